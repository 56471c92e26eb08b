"""When each reader's digest is due: their local hour, in their time zone, on their day.

A reader's period is their local date (daily) or the ISO week of it (weekly). The hourly beat
task (``tasks.send_due_digests``) asks, for the hour it runs at, which local days have readers
whose time has come and starts a run's batches for those readers only. Which readers a batch
holds is named by its *slot*, a short string stored with the batch so that a retry or the
recovery sweep builds for the same readers:

- ``""``: every reader of the frequency (``send_digests --date D``, an operator's catch-up);
- ``"hour:7"``: the readers whose local hour is 7 (``send_digests --date D --hour 7``);
- ``"at:2025-11-06T07"``: the readers whose local hour it is at that UTC hour, on the run's
  day (and, weekly, on their weekday). Each reader is due in one hourly run a day (or week):
  runs an hour apart never overlap, however long one takes. An hour whose run never
  started (the beat, its broker or the database was down) is started by the first hourly
  run of the ``CATCH_UP_HOURS`` after it; later than that, an operator catches it up with
  ``send_digests --date D --hour H``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q, QuerySet

from subscriptions.models import DigestBatch, Subscriber
from subscriptions.timezones import time_zone_names

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
    """``moment`` (UTC if it says no zone) in UTC, down to the hour: the hourly run it
    belongs to."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
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


def due_runs(*, at: datetime, frequency: str, catch_up_hours: int = 0) -> list[DueRun]:
    """The local days with active readers of ``frequency`` whose hour it is at ``at`` (a
    day appears once, in date order), after those of each of the ``catch_up_hours`` hours
    before it whose run never started, oldest first. Running an hour twice is harmless: a
    batch builds nothing for a reader who has the period's digest."""
    hour = hour_of(at)
    missed = [
        due
        for back in range(catch_up_hours, 0, -1)
        for due in _runs_of_hour(hour - timedelta(hours=back), frequency)
        if not _started(due, frequency)
    ]
    return missed + _runs_of_hour(hour, frequency)


def _runs_of_hour(hour: datetime, frequency: str) -> list[DueRun]:
    slot = at_slot(hour)
    days = sorted({day for day, _, _ in _local_hours(hour)})
    return [
        DueRun(day, slot)
        for day in days
        if slot_readers(day=day, frequency=frequency, slot=slot).exists()
    ]


def _started(due: DueRun, frequency: str) -> bool:
    # A run with readers records at least one batch before it queues any (runs.start_run).
    return DigestBatch.objects.filter(
        run__period=period_of(day=due.day, frequency=frequency),
        run__frequency=frequency,
        slot=due.slot,
    ).exists()


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
    weekly = frequency == Subscriber.Frequency.WEEKLY
    due = Q(pk__in=[])
    for local_day, (hour, weekday), zones in _local_hours(at):
        if local_day != day:
            continue
        now_due = Q(time_zone__in=zones, send_hour=hour)
        if weekly:
            now_due &= Q(send_weekday=weekday)
        if "UTC" in zones:
            # A zone this machine does not know (the forms refuse one) is served as UTC.
            unknown = Q(send_hour=hour) & ~Q(time_zone__in=time_zone_names())
            now_due |= unknown & Q(send_weekday=weekday) if weekly else unknown
        due |= now_due
    return subscribers.filter(due)


@lru_cache(maxsize=64)
def _local_hours(at: datetime) -> tuple[tuple[date, tuple[int, int], tuple[str, ...]], ...]:
    """At the UTC hour ``at``: each (local date, (local hour, ISO weekday)) some time zone
    is at, with those zones. Every zone the machine knows, so nothing is read from the
    database: the few dozen groups are what a batch's query filters on.

    An hour a zone's clocks skip (the spring change to summer time: 02:00 in New York)
    counts as the hour after it, so its readers still get that day's digest.
    """
    groups: dict[tuple[date, tuple[int, int]], list[str]] = {}
    for zone in time_zone_names():
        info = zone_named(zone)
        local = at.astimezone(info)
        before = (at - timedelta(hours=1)).astimezone(info)
        hours = [local.hour]
        # Skipped hours (empty but on a change), from midnight where the clocks skip it.
        first = before.hour + 1 if before.date() == local.date() else 0
        hours += range(first, local.hour)
        for hour in hours:
            key = (local.date(), (hour, local.isoweekday()))
            groups.setdefault(key, []).append(zone)
    return tuple((day, when, tuple(zones)) for (day, when), zones in sorted(groups.items()))


def slot_readers(*, day: date, frequency: str, slot: str) -> QuerySet[Subscriber]:
    """Active readers of ``frequency`` that ``slot`` names for the run of ``day``."""
    active = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=frequency)
    return readers_in_slot(active, day=day, frequency=frequency, slot=slot)
