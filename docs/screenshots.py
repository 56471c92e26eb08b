"""Make the screenshots in docs/screenshots/: the digest email and the home page, light and
dark (Chromium's emulated ``prefers-color-scheme``), at desktop and at a 390-pixel phone width.

How to run (from the repository root; needs Chromium at /usr/bin/chromium: `make browser`)
    .venv/bin/python docs/screenshots.py

It builds a throw-away SQLite database (the seed listing and the Hugging Face fixture
ingested, an editors' note, one subscriber), sends that reader's digest with the in-memory
backend, serves the site on a free loopback port, and screenshots both with headless
Chromium. Nothing under var/ is touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from datetime import date
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
SIZES = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 390, "height": 844}}
DAY = date(2025, 11, 6)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="pd-screenshots-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="digest_site.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core import mail
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from playwright.sync_api import sync_playwright

    from papers.ingest import ingest_location
    from papers.models import DayNote, Topic
    from subscriptions.addresses import mailbox_of
    from subscriptions.delivery.runs import run_in_process
    from subscriptions.models import Subscriber

    call_command("migrate", verbosity=0)
    ingest_location(location=str(REPO_ROOT / "tests/fixtures/hf-daily-papers.json"))
    ingest_location(location=str(REPO_ROOT / "seeds/hf-daily-papers-2025-11-06.txt"))

    server = make_server(
        "127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), handler_class=_Quiet
    )
    site = f"http://127.0.0.1:{server.server_port}"
    settings.SITE_URL = site
    settings.ALLOWED_HOSTS = ["*"]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    DayNote.objects.create(
        day=DAY, text="Model merging week: three new methods, and one benchmark to try them on."
    )
    reader = Subscriber.objects.create(
        email="ada@example.org", mailbox=mailbox_of("ada@example.org"), status="active"
    )
    reader.topics.set(Topic.objects.filter(slug__in=["model-merging", "face-analysis"]))
    mail.outbox = []
    run_in_process(day=DAY, frequency="daily")
    [email] = mail.outbox
    [(html, _)] = email.alternatives

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
        )
        for scheme in ("light", "dark"):
            for size, viewport in SIZES.items():
                page = browser.new_page(viewport=viewport, color_scheme=scheme)
                page.set_content(html)
                page.screenshot(path=OUT / f"digest-{size}-{scheme}.png", full_page=False)
                page.goto(f"{site}/?day={DAY:%Y-%m-%d}")
                page.screenshot(path=OUT / f"home-{size}-{scheme}.png", full_page=False)
                page.close()
        browser.close()
    server.shutdown()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(REPO_ROOT), path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
