"""The environment helpers of digest_site/settings.py: a bad value is refused by name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from digest_site.env import (
    env_bool,
    env_choice,
    env_day_of_week,
    env_float,
    env_int,
    env_list,
    env_prefixed,
)

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path, *arguments, **variables):
    """``python *arguments`` in a fresh process with only ``variables`` (and a key) set."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "SECRET_KEY": "x", "VAR_DIR": str(tmp_path), **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_settings(tmp_path, **variables):
    """The settings module's values, imported in a fresh process with only ``variables`` set."""
    script = (
        "import json, digest_site.settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in dir(s) if k.isupper()}, default=str))"
    )
    result = run(tmp_path, "-c", script, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("read", "raw", "message"),
    [
        (
            lambda: env_int("DIGEST_BATCH_SIZE", 1000, minimum=1),
            "abc",
            "DIGEST_BATCH_SIZE must be a positive integer, got 'abc'",
        ),
        (
            lambda: env_int("DIGEST_BATCH_SIZE", 1000, minimum=1),
            "0",
            "DIGEST_BATCH_SIZE must be a positive integer, got '0'",
        ),
        (
            lambda: env_int("DIGEST_BATCH_SIZE", 1000, minimum=1),
            "2.5",
            "DIGEST_BATCH_SIZE must be a positive integer, got '2.5'",
        ),
        (
            lambda: env_int("TRUSTED_PROXY_COUNT", 0, minimum=0),
            "-1",
            "TRUSTED_PROXY_COUNT must be an integer >= 0, got '-1'",
        ),
        (
            lambda: env_int("DIGEST_HOUR_UTC", 7, minimum=0, maximum=23),
            "24",
            "DIGEST_HOUR_UTC must be an integer from 0 to 23, got '24'",
        ),
        (
            lambda: env_float("FETCH_TIMEOUT_SECONDS", 20, above=0),
            "0",
            "FETCH_TIMEOUT_SECONDS must be a positive number, got '0'",
        ),
        (
            lambda: env_float("FETCH_TIMEOUT_SECONDS", 20, above=0),
            "nan",
            "FETCH_TIMEOUT_SECONDS must be a positive number, got 'nan'",
        ),
        (
            lambda: env_float("FETCH_BACKOFF_SECONDS", 2, minimum=0),
            "two",
            "FETCH_BACKOFF_SECONDS must be a number >= 0, got 'two'",
        ),
        (
            lambda: env_bool("EMAIL_USE_TLS", False),
            "ture",
            "EMAIL_USE_TLS must be a boolean (1/0, true/false, yes/no or on/off), got 'ture'",
        ),
        (
            lambda: env_choice("DIGEST_WHEN_EMPTY", "skip", ("skip", "note")),
            "nots",
            "DIGEST_WHEN_EMPTY must be one of 'skip', 'note', got 'nots'",
        ),
        (
            lambda: env_choice("DIGEST_WHEN_EMPTY", "skip", ("skip", "note")),
            "Skip",
            "DIGEST_WHEN_EMPTY must be one of 'skip', 'note', got 'Skip'",
        ),
        (
            lambda: env_day_of_week("DIGEST_WEEKDAY", "1"),
            "funday",
            "DIGEST_WEEKDAY must be a crontab day of week (e.g. 1 for Monday, mon-fri or *), "
            "got 'funday'",
        ),
    ],
)
def test_a_bad_value_is_refused_by_name(monkeypatch, read, raw, message):
    name = message.split()[0]
    monkeypatch.setenv(name, raw)
    with pytest.raises(ImproperlyConfigured) as refused:
        read()
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("TRUE", True), ("Yes", True), (" on ", True)],
        *[("0", False), ("false", False), ("NO", False), ("Off", False)],
    ],
)
def test_booleans_take_the_usual_words_in_any_case(monkeypatch, raw, expected):
    monkeypatch.setenv("EMAIL_USE_TLS", raw)
    assert env_bool("EMAIL_USE_TLS", not expected) is expected


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_an_unset_or_empty_variable_means_the_default(monkeypatch, raw):
    for name in (
        "EMAIL_USE_TLS",
        "DIGEST_BATCH_SIZE",
        "FETCH_TIMEOUT_SECONDS",
        "DIGEST_WHEN_EMPTY",
        "DIGEST_WEEKDAY",
    ):
        if raw is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, raw)
    assert env_bool("EMAIL_USE_TLS", True) is True
    assert env_int("DIGEST_BATCH_SIZE", 1000, minimum=1) == 1000
    assert env_float("FETCH_TIMEOUT_SECONDS", 20, above=0) == 20.0
    assert env_choice("DIGEST_WHEN_EMPTY", "skip", ("skip", "note")) == "skip"
    assert env_day_of_week("DIGEST_WEEKDAY", "1") == "1"


def test_a_good_value_is_read(monkeypatch):
    monkeypatch.setenv("DIGEST_BATCH_SIZE", " 250 ")
    monkeypatch.setenv("FETCH_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("DIGEST_WHEN_EMPTY", "note")
    monkeypatch.setenv("DIGEST_WEEKDAY", "mon-fri")
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG, ,cs.CL,")
    monkeypatch.setenv("ANYMAIL_TEST_TOKEN", "t")
    assert env_int("DIGEST_BATCH_SIZE", 1000, minimum=1) == 250
    assert env_float("FETCH_TIMEOUT_SECONDS", 20, above=0) == 0.5
    assert env_choice("DIGEST_WHEN_EMPTY", "skip", ("skip", "note")) == "note"
    assert env_day_of_week("DIGEST_WEEKDAY", "1") == "mon-fri"
    assert env_list("ARXIV_CATEGORIES") == ["cs.LG", "cs.CL"]
    assert env_prefixed("ANYMAIL_")["TEST_TOKEN"] == "t"


def test_the_defaults_hold_with_nothing_set(tmp_path):
    values = read_settings(tmp_path)
    digests = values["DIGESTS"]
    # The defaults README.md's configuration table promises, and the others settings.py had.
    assert (values["DEBUG"], values["HTTPS"], values["EMAIL_USE_TLS"]) == (False, False, False)
    assert values["ALLOWED_HOSTS"] == [] and values["CSRF_TRUSTED_ORIGINS"] == []
    assert values["TRUSTED_PROXY_COUNT"] == 0
    assert values["LOGGING"]["handlers"]["console"]["formatter"] == "text"
    assert values["LOGGING"]["root"]["level"] == "INFO"
    assert values["PAGE_CACHE_SECONDS"] == 60
    assert (values["HEALTH_MAX_INGEST_AGE_HOURS"], values["HEALTH_MAX_DIGEST_AGE_HOURS"]) == (
        36,
        36,
    )
    assert values["ARXIV_CATEGORIES"] == ["cs.LG", "cs.CV", "cs.CL", "cs.AI", "cs.IR"]
    assert (
        values["FETCH_TIMEOUT_SECONDS"],
        values["FETCH_RETRIES"],
        values["FETCH_BACKOFF_SECONDS"],
    ) == (20.0, 3, 2.0)
    assert values["SITE_URL"] == "http://127.0.0.1:8000"
    assert (values["SOFT_BOUNCE_LIMIT"], values["SOFT_BOUNCE_WINDOW_DAYS"]) == (5, 30)
    assert (digests["HOUR_UTC"], digests["WEEKDAY"]) == (7, "1")
    assert (digests["FOR_YOU_COUNT"], digests["TRENDING_COUNT"]) == (10, 3)
    assert digests["WHEN_EMPTY"] == "skip"
    assert (digests["BATCH_SIZE"], digests["SEND_CONCURRENCY"]) == (1000, 64)
    assert (digests["STALE_CLAIM_MINUTES"], digests["STALL_MINUTES"]) == (30, 3)
    assert digests["UNKNOWN_RESEND_MINUTES"] == 120
    assert digests["MAX_CONSECUTIVE_FAILURES"] == 20
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 3600}
    assert (digests["RETRY_BASE_SECONDS"], digests["RETRY_MAX_SECONDS"]) == (60, 1800)
    assert values["DIGEST_REPLY_TO"] == ""
    assert values["DIGEST_LIST_ID"] == "Paper Digest <digest.paper-digest.local>"
    assert values["DEFAULT_FROM_EMAIL"] == "Paper Digest <digest@localhost>"
    assert (values["EMAIL_HOST"], values["EMAIL_PORT"]) == ("localhost", 25)
    assert values["EMAIL_BACKEND"] == "digest_site.mail.EmlFileBackend"
    assert values["DATABASES"]["default"]["CONN_MAX_AGE"] == 60
    assert values["DATABASES"]["default"]["NAME"] == str(tmp_path / "paper_digest.sqlite3")
    assert values["SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR"] == 20
    assert values["TOPIC_TAG_THRESHOLD"] == 0.5
    ranking = values["RANKING"]
    assert (ranking["RELEVANCE"], ranking["POPULARITY"], ranking["PINNED"]) == (0.75, 0.25, 0.3)
    assert ranking["MIN_RELEVANCE"] == 0.08


def test_a_digest_when_empty_from_the_environment_is_used(tmp_path):
    values = read_settings(tmp_path, DIGEST_WHEN_EMPTY="note", LOG_FORMAT="json")
    assert values["DIGESTS"]["WHEN_EMPTY"] == "note"
    assert values["LOGGING"]["handlers"]["console"]["formatter"] == "json"


def test_a_mistyped_digest_when_empty_stops_manage_py_by_name(tmp_path):
    result = run(tmp_path, "manage.py", "check", DIGEST_WHEN_EMPTY="nots")
    assert result.returncode != 0
    assert "DIGEST_WHEN_EMPTY must be one of 'skip', 'note', got 'nots'" in result.stderr
