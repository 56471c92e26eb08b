import json
import logging
import os
import re
import secrets
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from digest_site.logs import JsonFormatter
from papers.models import IngestRun
from subscriptions.models import DigestRun

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# A placeholder of docs/deploy.md: <password>, <50+ random characters> (not an address such
# as <digest@example.org>).
_PLACEHOLDER = re.compile(r"<[\w +-]+>")
# Servers a test does not reach: SQLite and in-process tasks stand in (check reads neither).
_SERVERS = {"DATABASE_URL", "REDIS_URL", "BROKER_URL"}


def documented_env():
    """The variables of the ``sh`` block under "Environment" in docs/deploy.md, each
    placeholder filled with a random value."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"## Environment\n.*?```sh\n(.*?)```", text, re.DOTALL)[1]
    env = {}
    for line in block.splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if not line:
            continue
        name, _, value = line.partition("=")
        value = _PLACEHOLDER.sub(lambda _: secrets.token_urlsafe(60), value)
        [env[name]] = shlex.split(value)
    return env


def production_env(tmp_path, site_url="https://digest.example.org"):
    """The environment docs/deploy.md asks for (``site_url`` None: SITE_URL left unset)."""
    env = {k: v for k, v in documented_env().items() if k not in _SERVERS}
    env = {**env, "VAR_DIR": str(tmp_path)}
    env.pop("SITE_URL")
    return env if site_url is None else {**env, "SITE_URL": site_url}


def check_deploy(env):
    return manage("check", "--deploy", "--fail-level", "WARNING", env=env)


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    env = production_env(tmp_path)
    # What the documented environment says, read from the docs.
    assert env["HTTPS"] == "1" and env["TRUSTED_PROXY_COUNT"] == "1"
    assert env["EMAIL_BACKEND"] == "anymail.backends.postmark.EmailBackend"
    assert env["DEFAULT_FROM_EMAIL"] == "Paper Digest <digest@example.org>"
    assert len(env["SECRET_KEY"]) >= 50
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_documented_production_environment_serves_with_every_protection(tmp_path):
    # The settings a production process gets: lockouts, validators, a body cap, only our
    # ESP's webhook, HTTPS everything.
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "from django.urls import reverse; "
        "print(json.dumps({'axes': 'axes' in s.INSTALLED_APPS, 'limit': s.AXES_FAILURE_LIMIT, "
        "'validators': len(s.AUTH_PASSWORD_VALIDATORS), 'body': s.MAX_REQUEST_BODY_BYTES, "
        "'esp': s.WEBHOOK_ESP, 'hook': reverse('anymail:postmark_tracking_webhook'), "
        "'csp': s.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src'], "
        "'hsts': s.SECURE_HSTS_SECONDS, 'secure': s.SESSION_COOKIE_SECURE}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "digest_site.settings",
            **production_env(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "axes": True,
        "limit": 5,
        "validators": 4,
        "body": 1024 * 1024,
        "esp": "postmark",
        "hook": "/anymail/postmark/tracking/",
        "csp": ["'self'"],
        "hsts": 365 * 24 * 3600,
        "secure": True,
    }


@pytest.mark.parametrize(
    ("site_url", "message"),
    [
        (None, "SITE_URL is 'http://127.0.0.1:8000'"),
        ("http://localhost:8000", "every link in every email"),
        ("http://digest.example.org", "while HTTPS is on"),
    ],
)
def test_check_deploy_warns_of_a_site_url_emails_cannot_use(tmp_path, site_url, message):
    result = check_deploy(production_env(tmp_path, site_url=site_url))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_without_a_secret_key_production_refuses_to_start(tmp_path):
    result = manage("check", env={"VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_logs_can_be_one_json_object_a_line():
    record = logging.LogRecord(
        "papers.ingest", logging.INFO, __file__, 1, "ingested %s", ("x",), None
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO" and entry["logger"] == "papers.ingest"
    assert entry["message"] == "ingested x"


@pytest.mark.django_db
def test_healthz_is_503_until_ingest_and_digests_have_run(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert set(response.json()["problems"]) == {"ingest", "digests"}

    IngestRun.objects.create(location="x", status="succeeded", finished_at=timezone.now())
    DigestRun.objects.create(period="2025-11-06", frequency="daily")
    ok = client.get("/healthz")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "problems": {}}


@pytest.mark.django_db
def test_healthz_says_what_is_stale(client, settings):
    IngestRun.objects.create(
        location="x", status="succeeded", finished_at=timezone.now() - timedelta(days=3)
    )
    DigestRun.objects.create(period="2025-11-06", frequency="daily")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "older than 36 h" in response.json()["problems"]["ingest"]
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_healthz_reports_an_unreachable_broker(client, settings):
    IngestRun.objects.create(location="x", status="succeeded", finished_at=timezone.now())
    DigestRun.objects.create(period="2025-11-06", frequency="daily")
    settings.BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert list(response.json()["problems"]) == ["broker"]
    assert response.json()["problems"]["broker"].startswith("broker unreachable")


def test_static_files_are_served_by_whitenoise_without_debug(client, settings):
    # Production serves STATIC_ROOT (filled by collectstatic); here WhiteNoise reads the
    # source folders directly, through the same middleware.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    assert not settings.DEBUG
    response = client.get("/static/site.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"Paper Digest" in b"".join(response.streaming_content)


@pytest.mark.redis
@pytest.mark.django_db
def test_healthz_is_ok_with_the_real_broker(client, settings, redis_url):
    IngestRun.objects.create(location="x", status="succeeded", finished_at=timezone.now())
    DigestRun.objects.create(period="2025-11-06", frequency="daily")
    settings.BROKER_URL = redis_url
    assert client.get("/healthz").status_code == 200
