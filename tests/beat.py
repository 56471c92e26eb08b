"""Walking a frozen clock through the real beat schedule (the rows the migrations create).

``run_schedule`` fires, in time order, each scheduled run of the chosen beat entries between
two moments, with the clock frozen at the time beat would start it, through the task Celery
has registered under the entry's name (tasks run in-process in tests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django_celery_beat.models import PeriodicTask

from digest_site.celery import app


@dataclass(frozen=True)
class Firing:
    at: datetime
    entry: str
    task: str
    kwargs: dict[str, Any]


def firings(*, names: list[str], start: datetime, end: datetime) -> Iterator[Firing]:
    """Each time, in order, one of the named beat entries (crontab, UTC) fires in [start, end)."""
    found: list[Firing] = []
    for entry in PeriodicTask.objects.filter(name__in=names, enabled=True):
        assert entry.crontab is not None, f"{entry.name} has no crontab"
        schedule = entry.crontab.schedule
        kwargs = json.loads(entry.kwargs or "{}")
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            # Celery numbers week days from Sunday = 0.
            if day.isoweekday() % 7 in schedule.day_of_week:
                for hour in sorted(schedule.hour):
                    for minute in sorted(schedule.minute):
                        at = day.replace(hour=hour, minute=minute)
                        if start <= at < end:
                            found.append(Firing(at, entry.name, entry.task, kwargs))
            day += timedelta(days=1)
    missing = set(names) - {f.entry for f in found}
    assert not missing, f"no beat entry fired: {missing}"
    yield from sorted(found, key=lambda f: (f.at, f.entry))


def run_schedule(
    *,
    names: list[str],
    start: datetime,
    end: datetime,
    before: Callable[[Firing], None] | None = None,
) -> list[Firing]:
    """Fire the named beat entries between ``start`` and ``end`` with the clock at each time."""
    fired = []
    for firing in firings(names=names, start=start, end=end):
        with time_machine.travel(firing.at, tick=False):
            if before is not None:
                before(firing)
            app.tasks[firing.task].apply(kwargs=firing.kwargs).get()
        fired.append(firing)
    return fired


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
