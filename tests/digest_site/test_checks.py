"""System checks: a setting set in code, bypassing the environment helpers, is still refused."""

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def settings_problems():
    """(id, message) of every problem the settings checks find."""
    return [(error.id, error.msg) for error in run_checks(tags=["settings"])]


def test_the_default_settings_pass():
    assert settings_problems() == []


def test_an_overridden_digest_when_empty_is_reported(settings):
    settings.DIGESTS = {**settings.DIGESTS, "WHEN_EMPTY": "nots"}
    assert settings_problems() == [
        ("digest_site.E001", "DIGESTS['WHEN_EMPTY'] must be one of 'skip', 'note', got 'nots'.")
    ]


def test_a_missing_digest_when_empty_is_reported(settings):
    settings.DIGESTS = {k: v for k, v in settings.DIGESTS.items() if k != "WHEN_EMPTY"}
    assert settings_problems() == [
        ("digest_site.E001", "DIGESTS['WHEN_EMPTY'] must be one of 'skip', 'note', it is missing.")
    ]


def test_manage_py_check_fails_on_it(settings):
    settings.DIGESTS = {**settings.DIGESTS, "WHEN_EMPTY": "Note"}
    with pytest.raises(SystemCheckError, match=r"digest_site\.E001.*got 'Note'"):
        call_command("check")


@pytest.mark.parametrize(
    ("name", "key", "value", "message"),
    [
        ("DIGESTS", "BATCH_SIZE", 0, "DIGESTS['BATCH_SIZE'] must be a positive integer, got 0."),
        (
            "DIGESTS",
            "BATCH_SIZE",
            "100",
            "DIGESTS['BATCH_SIZE'] must be a positive integer, got '100'.",
        ),
        (
            "DIGESTS",
            "SEND_CONCURRENCY",
            2.5,
            "DIGESTS['SEND_CONCURRENCY'] must be a positive integer, got 2.5.",
        ),
        (
            "DIGESTS",
            "MAX_CONSECUTIVE_FAILURES",
            True,
            "DIGESTS['MAX_CONSECUTIVE_FAILURES'] must be a positive integer, got True.",
        ),
        ("DIGESTS", "HOUR_UTC", 24, "DIGESTS['HOUR_UTC'] must be an integer from 0 to 23, got 24."),
        ("RANKING", "RELEVANCE", -0.5, "RANKING['RELEVANCE'] must be a number >= 0, got -0.5."),
        (
            "FETCH_TIMEOUT_SECONDS",
            None,
            0,
            "FETCH_TIMEOUT_SECONDS must be a positive number, got 0.",
        ),
        ("TRUSTED_PROXY_COUNT", None, -1, "TRUSTED_PROXY_COUNT must be an integer >= 0, got -1."),
        ("SOFT_BOUNCE_LIMIT", None, 0, "SOFT_BOUNCE_LIMIT must be a positive integer, got 0."),
    ],
)
def test_an_overridden_number_out_of_bounds_is_reported(settings, name, key, value, message):
    if key is None:
        setattr(settings, name, value)
    else:
        setattr(settings, name, {**getattr(settings, name), key: value})
    assert settings_problems() == [("digest_site.E002", message)]


def test_numbers_of_the_right_kind_pass(settings):
    settings.RANKING = {**settings.RANKING, "RELEVANCE": 1, "POPULARITY": 0.0}
    settings.DIGESTS = {**settings.DIGESTS, "TRENDING_COUNT": 0, "HOUR_UTC": 23}
    settings.FETCH_TIMEOUT_SECONDS = 0.5
    assert settings_problems() == []


def test_an_overridden_weekday_celery_cannot_parse_is_reported(settings):
    settings.DIGESTS = {**settings.DIGESTS, "WEEKDAY": "funday"}
    assert settings_problems() == [
        (
            "digest_site.E003",
            "DIGESTS['WEEKDAY'] must be a crontab day of week (e.g. 1 for Monday, mon-fri or *), "
            "got 'funday'.",
        )
    ]
