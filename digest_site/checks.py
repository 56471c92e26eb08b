"""System checks (``manage.py check``; also run before ``migrate`` and ``runserver``).

settings.py refuses a bad environment value at start-up. A value set in code instead (a local
settings module, ``override_settings``, a test's ``settings`` fixture) bypasses that, so these
checks hold the same settings to the same rules (digest_site/values.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Error, Warning, register

from digest_site.values import DAY_OF_WEEK_DESCRIPTION, Bounds, is_day_of_week
from digest_site.webhooks import tracking_webhook_urls

_MISSING = object()

# (setting, key inside it or None) -> the values it may take.
CHOICES: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("DIGESTS", "WHEN_EMPTY"): ("skip", "note"),
}

_POSITIVE_INTEGER = Bounds(integer=True, minimum=1)
_INTEGER_FROM_0 = Bounds(integer=True, minimum=0)
_NUMBER_FROM_0 = Bounds(integer=False, minimum=0)
_NUMBER_ABOVE_0 = Bounds(integer=False, above=0)

# (setting, key inside it or None) -> the numbers it may be: those its variable may be.
NUMBERS: dict[tuple[str, str | None], Bounds] = {
    ("FETCH_TIMEOUT_SECONDS", None): Bounds(integer=False, above=0),
    ("FETCH_RETRIES", None): _INTEGER_FROM_0,
    ("FETCH_BACKOFF_SECONDS", None): _NUMBER_FROM_0,
    ("PAGE_CACHE_SECONDS", None): _INTEGER_FROM_0,
    ("HEALTH_MAX_INGEST_AGE_HOURS", None): _POSITIVE_INTEGER,
    ("HEALTH_MAX_DIGEST_AGE_HOURS", None): _POSITIVE_INTEGER,
    ("TOPIC_TAG_THRESHOLD", None): _NUMBER_FROM_0,
    ("RANKING", "RELEVANCE"): _NUMBER_FROM_0,
    ("RANKING", "POPULARITY"): _NUMBER_FROM_0,
    ("RANKING", "PINNED"): _NUMBER_FROM_0,
    ("RANKING", "MIN_RELEVANCE"): _NUMBER_FROM_0,
    ("SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR", None): _POSITIVE_INTEGER,
    ("TRUSTED_PROXY_COUNT", None): _INTEGER_FROM_0,
    ("SOFT_BOUNCE_LIMIT", None): _POSITIVE_INTEGER,
    ("SOFT_BOUNCE_WINDOW_DAYS", None): _POSITIVE_INTEGER,
    ("DIGESTS", "FOR_YOU_COUNT"): _POSITIVE_INTEGER,
    ("DIGESTS", "TRENDING_COUNT"): _INTEGER_FROM_0,
    # Keyset paging (subscriber_id_ranges) reads pages of this many: 0 breaks it.
    ("DIGESTS", "BATCH_SIZE"): _POSITIVE_INTEGER,
    ("DIGESTS", "SEND_CONCURRENCY"): _POSITIVE_INTEGER,
    ("DIGESTS", "STALE_CLAIM_MINUTES"): _NUMBER_ABOVE_0,
    ("DIGESTS", "STALL_MINUTES"): _NUMBER_ABOVE_0,
    ("DIGESTS", "UNKNOWN_RESEND_MINUTES"): _NUMBER_FROM_0,
    ("DIGESTS", "MAX_CONSECUTIVE_FAILURES"): _POSITIVE_INTEGER,
    ("DIGESTS", "RETRY_BASE_SECONDS"): _POSITIVE_INTEGER,
    ("DIGESTS", "HOUR_UTC"): Bounds(integer=True, minimum=0, maximum=23),
}


def _setting(name: str, key: str | None) -> tuple[str, object]:
    """The setting's label as written in settings.py, and its value (or ``_MISSING``)."""
    value = getattr(settings, name, _MISSING)
    if key is None:
        return name, value
    inside = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
    return f"{name}[{key!r}]", inside


def _got(value: object) -> str:
    return "it is missing" if value is _MISSING else f"got {value!r}"


@register("settings")
def check_choice_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Error]:
    """A setting with a fixed set of values holds one of them."""
    errors = []
    for (name, key), choices in CHOICES.items():
        label, value = _setting(name, key)
        if value not in choices:
            allowed = ", ".join(repr(choice) for choice in choices)
            errors.append(
                Error(
                    f"{label} must be one of {allowed}, {_got(value)}.",
                    hint="Code that sets it directly bypasses the check on its environment "
                    "variable; set one of the values listed.",
                    id="digest_site.E001",
                )
            )
    return errors


@register("settings")
def check_number_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Error]:
    """A numeric setting is a number of its kind within its bounds (a count is positive)."""
    errors = []
    for (name, key), bounds in NUMBERS.items():
        label, value = _setting(name, key)
        if not bounds.admits(value):
            errors.append(
                Error(
                    f"{label} must be {bounds.description}, {_got(value)}.",
                    id="digest_site.E002",
                )
            )
    return errors


@register("settings")
def check_digest_weekday(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Error]:
    """The weekly digest's day is one Celery beat's crontab accepts (migration 0004 uses it)."""
    label, value = _setting("DIGESTS", "WEEKDAY")
    if is_day_of_week(value):
        return []
    return [
        Error(f"{label} must be {DAY_OF_WEEK_DESCRIPTION}, {_got(value)}.", id="digest_site.E003")
    ]


@register("settings")
def check_webhook_esp(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Warning]:
    """The ESP named by WEBHOOK_ESP has a tracking webhook in anymail, so one URL is mounted."""
    esp = getattr(settings, "WEBHOOK_ESP", "")
    if tracking_webhook_urls(esp):
        return []
    return [
        Warning(
            f"anymail has no tracking webhook for WEBHOOK_ESP={esp!r}: no webhook URL is "
            "mounted, so bounces and complaints never reach Paper Digest.",
            hint="Set WEBHOOK_ESP to the ESP's name as in anymail's URLs (postmark, mailgun, "
            "amazon_ses, ...).",
            id="digest_site.W001",
        )
    ]
