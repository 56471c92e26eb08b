"""A person's whole journey, in a real browser: find papers, subscribe, confirm, manage, leave.

The test thread touches the database only before the browser starts and after it stops
(Playwright's sync API runs an event loop, in which Django refuses ORM calls).
"""

import re
from datetime import date
from email import message_from_bytes, policy

import pytest
from django.core import mail

from digest_site.mail import EmlFileBackend
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Subscriber
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def confirmation_link(live_server_url: str) -> str:
    [email] = [m for m in mail.outbox if m.to == ["grace@example.org"]]
    match = re.search(r"https?://[^/\s]+(/confirm/\S+)", email.body)
    assert match, email.body
    return live_server_url + match.group(1)


def eml_html(message, settings) -> str:
    """Write ``message`` with the .eml backend `make run` uses, read it back, return its HTML."""
    settings.EMAIL_FILE_PATH = str(ARTIFACTS / "outbox")
    for old in (ARTIFACTS / "outbox").glob("*.eml"):
        old.unlink()
    EmlFileBackend().send_messages([message])
    [path] = (ARTIFACTS / "outbox").glob("*.eml")
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return parsed.get_body(("html",)).get_content()


def test_a_researcher_subscribes_confirms_manages_and_unsubscribes(
    live_server, seeded, chromium_path, settings
):
    from playwright.sync_api import expect, sync_playwright

    settings.SITE_URL = live_server.url
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        # Whatever the Content-Security-Policy blocks, Chromium reports on the console.
        refused = []
        page.on("console", lambda message: refused.append(message.text))

        page.goto(live_server.url + "/")
        expect(page.get_by_role("heading", name="Daily Papers")).to_be_visible()
        expect(page.locator(".paper")).to_have_count(82)
        expect(page.get_by_text("Get trending papers in your email inbox!")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "landing.png", full_page=False)

        page.get_by_label("Email address", exact=True).first.fill("grace@example.org")
        page.get_by_role("button", name="Subscribe").last.click()
        expect(
            page.get_by_role("heading", name="Get trending papers in your email inbox")
        ).to_be_visible()
        expect(page.get_by_label("Email address")).to_have_value("grace@example.org")
        page.get_by_label("Face analysis").check()
        page.get_by_label("Model merging").check()
        page.get_by_label("Keywords").fill("LoRA, face recognition")
        page.screenshot(path=ARTIFACTS / "subscribe.png", full_page=True)
        page.locator("form.stacked").get_by_role("button", name="Subscribe").click()
        expect(page.get_by_role("heading", name="Check your inbox to confirm")).to_be_visible()

        page.goto(confirmation_link(live_server.url))
        page.get_by_role("button", name="Confirm my subscription").click()
        expect(page.get_by_role("heading", name="You're subscribed!")).to_be_visible()

        page.get_by_role("link", name="Manage preferences").click()
        expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
        expect(page.get_by_label("Face analysis")).to_be_checked()
        page.get_by_label("Segmentation").check()
        page.get_by_label("weekly").check()
        page.get_by_role("button", name="Save preferences").click()
        expect(page.get_by_text("Saved.")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "preferences.png", full_page=True)
        assert [text for text in refused if "Content Security Policy" in text] == []
        browser.close()

    grace = Subscriber.objects.get(email="grace@example.org")
    assert grace.status == Subscriber.Status.ACTIVE
    assert grace.frequency == "weekly"
    assert sorted(grace.topics.values_list("slug", flat=True)) == [
        "face-analysis",
        "model-merging",
        "segmentation",
    ]
    assert grace.keywords == ["LoRA", "face recognition"]

    # The week's run: the confirmed subscriber gets her digest.
    run_in_process(day=date(2025, 11, 6), frequency="weekly")
    [digest] = [
        m
        for m in mail.outbox
        if m.to == ["grace@example.org"]
        and "Paper Digest" in m.subject
        and "/digest/view/" in m.body
    ]
    one_click = digest.extra_headers["List-Unsubscribe"].strip("<>")
    assert "Faceptor: A Generalist Model for Face Perception" in digest.body

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 1200})
        # The digest as a mail client gets it: an .eml file, its HTML part rendered.
        page.set_content(eml_html(digest, settings))
        page.screenshot(path=ARTIFACTS / "digest-email.png", full_page=True)

        # A mail client that only opens the List-Unsubscribe address gets one button.
        page.goto(one_click)
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
        browser.close()

    grace.refresh_from_db()
    assert grace.status == Subscriber.Status.UNSUBSCRIBED
