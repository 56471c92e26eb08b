import json
import logging
import os
import secrets
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


def production_env(tmp_path, site_url="https://digest.example.org"):
    """The environment docs/deploy.md asks for (``site_url`` None: SITE_URL left unset)."""
    env = {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "digest.example.org",
        "HTTPS": "1",
        "VAR_DIR": str(tmp_path),
    }
    return env if site_url is None else {**env, "SITE_URL": site_url}


def check_deploy(env):
    return manage("check", "--deploy", "--fail-level", "WARNING", env=env)


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    result = check_deploy(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


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
