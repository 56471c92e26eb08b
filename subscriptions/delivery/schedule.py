"""When each reader's digest is due: their local hour, in their time zone, on their day.

A reader's period is their local date (daily) or the ISO week of it (weekly). The hourly beat
task (``tasks.send_due_digests``) asks, for the hour it runs at, which local days have readers
whose time has come and starts a run's batches for those readers only. Which readers a batch
holds is named by its *slot*, a short string stored with the batch so that a retry or the
recovery sweep builds for the same readers:

- ``""``: every reader of the frequency (``send_digests --date D``, an operator's catch-up);
- ``"hour:7"``: the readers whose local hour is 7 (``send_digests --date D --hour 7``);
- ``"at:2025-11-06T07"``: the readers due at that UTC hour whose local date is the run's day
  (and, weekly, whose weekday it is): their local hour has come, within ``CATCH_UP_HOURS``.
  A reader whose hour passed while the beat was down is picked up by a later hour's run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import Q, QuerySet

from subscriptions.models import Digest, Subscriber

logger = logging.getLogger(__name__)

_AT_FORMAT = "%Y-%m-%dT%H"


def period_of(*, day: date, frequency: str) -> str:
    """The period a digest of ``day`` belongs to: "2025-11-06", or "2025-W45" for weekly."""
    if frequency == Subscriber.Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def zone_named(name: str) -> ZoneInfo:
    """The time zone called ``name``; UTC (logged) for a name this machine does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r: its readers are served at UTC", name)
        return ZoneInfo("UTC")


def hour_of(moment: datetime) -> datetime:
    """``moment`` in UTC, down to the hour: the hourly run it belongs to."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def at_slot(at: datetime) -> str:
    """The slot of the readers due at the hourly run ``at``."""
    return f"at:{hour_of(at).strftime(_AT_FORMAT)}"


def hour_slot(hour: int) -> str:
    """The slot of the readers whose local hour is ``hour`` (0-23)."""
    if not 0 <= hour <= 23:
        raise ValueError(f"hour {hour} is not between 0 and 23")
    return f"hour:{hour}"


@dataclass(frozen=True)
class DueRun:
    """One run the hourly task starts: a local day and the slot of its readers due now."""

    day: date
    slot: str


def due_runs(*, at: datetime, frequency: str) -> list[DueRun]:
    """The local days with active readers of ``frequency`` whose time has come at ``at``
    and who have no digest for that day's period yet (a day appears once, in date order)."""
    days = sorted({_local(at, zone).date() for zone in _zones_in_use(frequency)})
    slot = at_slot(at)
    return [
        DueRun(day, slot)
        for day in days
        if unbuilt_readers(day=day, frequency=frequency, slot=slot).exists()
    ]


def readers_in_slot(
    subscribers: QuerySet[Subscriber], *, day: date, frequency: str, slot: str
) -> QuerySet[Subscriber]:
    """``subscribers`` narrowed to those ``slot`` names for the run of ``day``."""
    if not slot:
        return subscribers
    kind, _, value = slot.partition(":")
    if kind == "hour":
        return subscribers.filter(send_hour=int(value))
    if kind != "at":
        raise ValueError(f"unknown slot {slot!r}")
    at = datetime.strptime(value, _AT_FORMAT).replace(tzinfo=UTC)
    late = settings.DIGESTS["CATCH_UP_HOURS"]
    due = Q(pk__in=[])
    for zone in _zones_in_use(frequency):
        local = _local(at, zone)
        if local.date() != day:
            continue
        come = Q(time_zone=zone, send_hour__lte=local.hour, send_hour__gt=local.hour - late)
        if frequency == Subscriber.Frequency.WEEKLY:
            come &= Q(send_weekday=local.isoweekday())
        due |= come
    return subscribers.filter(due)


def unbuilt_readers(*, day: date, frequency: str, slot: str) -> QuerySet[Subscriber]:
    """Active readers of ``frequency`` in ``slot`` for ``day`` without that period's digest."""
    period = period_of(day=day, frequency=frequency)
    active = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=frequency)
    return readers_in_slot(active, day=day, frequency=frequency, slot=slot).exclude(
        pk__in=Digest.objects.filter(period=period).values("subscriber_id")
    )


def _zones_in_use(frequency: str) -> list[str]:
    return sorted(
        Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=frequency)
        .values_list("time_zone", flat=True)
        .distinct()
        .order_by()
    )


def _local(at: datetime, zone: str) -> datetime:
    return at.astimezone(zone_named(zone))
