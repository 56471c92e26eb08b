"""When readers get their digest: IANA time zones (as the machine's zone database knows
them) and the send time a reader chooses."""

from __future__ import annotations

from dataclasses import dataclass
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


DEFAULT_SEND_HOUR = 7
DEFAULT_SEND_WEEKDAY = 1  # Monday, as ISO numbers days


@dataclass(frozen=True, slots=True)
class SendTime:
    """When a reader wants their digest: a local hour (0-23) in an IANA time zone and, for
    a weekly digest, a day of the week (ISO: Monday = 1)."""

    hour: int = DEFAULT_SEND_HOUR
    time_zone: str = DEFAULT_TIME_ZONE
    weekday: int = DEFAULT_SEND_WEEKDAY

    def as_json(self) -> dict[str, object]:
        """The send time as plain JSON values (kept with a sign-up until it is applied)."""
        return {"hour": self.hour, "time_zone": self.time_zone, "weekday": self.weekday}

    @classmethod
    def from_json(cls, value: object) -> SendTime | None:
        """The send time ``as_json`` gave, or None for anything that is not a valid one."""
        if not isinstance(value, dict):
            return None
        hour, zone, weekday = value.get("hour"), value.get("time_zone"), value.get("weekday")
        if not (isinstance(hour, int) and 0 <= hour <= 23 and isinstance(weekday, int)):
            return None
        if not (1 <= weekday <= 7 and isinstance(zone, str) and zone in time_zone_names()):
            return None
        return cls(hour=hour, time_zone=zone, weekday=weekday)
