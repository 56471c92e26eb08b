"""The time zones readers may choose: IANA names, as the machine's zone database knows them."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError

DEFAULT_TIME_ZONE = "UTC"


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows, sorted (the forms' choices)."""
    return tuple(sorted(available_timezones() - {"localtime", "Factory"}))


def validate_time_zone(value: str) -> None:
    """Refuse a name that is not an IANA time zone ("Europe/Paris", "UTC")."""
    if value not in time_zone_names():
        raise ValidationError(
            "%(value)s is not a time zone name such as Europe/Paris or America/New_York.",
            code="invalid_time_zone",
            params={"value": value[:64]},
        )
