"""Each period's digests counted by status, kept as the run goes, for the admin's summary.

Counting is a GROUP BY over one period's digests (the (period, status) index), written to
one ``DigestCount`` row a period: after each batch of a run, and by the recovery sweep every
minute for the periods of the last ``RECOUNT_DAYS`` days, which is where ESP events, retries
and resends still move digests. The summary then reads a row a period, whatever the size of
the digest table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from subscriptions.models import Digest, DigestCount, DigestRun

# Events, retries and resends come within days of a digest: older periods stay as counted.
RECOUNT_DAYS = 8

# Beside one count per status.
_EXTRA = {
    "in_doubt": Q(status__in=(Digest.Status.SENDING, Digest.Status.UNKNOWN)),
    "settled_by_events": Q(settled_by_event=True),
    "resent": Q(resent_at__isnull=False),
}


def recount(periods: Iterable[str], *, unless_counted_within: timedelta | None = None) -> None:
    """Count these periods' digests again, by frequency; with ``unless_counted_within``,
    only those not counted that recently (a run's batches, one after another)."""
    periods = set(periods)
    if unless_counted_within is not None:
        recent = timezone.now() - unless_counted_within
        periods -= set(
            DigestCount.objects.filter(period__in=periods, counted_at__gte=recent).values_list(
                "period", flat=True
            )
        )
    if not periods:
        return
    aggregates = {"built": Count("pk")}
    aggregates |= {status: Count("pk", filter=Q(status=status)) for status in Digest.Status.values}
    aggregates |= {name: Count("pk", filter=where) for name, where in _EXTRA.items()}
    rows = (
        Digest.objects.filter(period__in=periods)
        .values("period", "frequency")
        .annotate(**aggregates)
        .order_by()
    )
    now = timezone.now()
    for row in rows:
        period, frequency = row.pop("period"), row.pop("frequency")
        DigestCount.objects.update_or_create(
            period=period, frequency=frequency, defaults={"counts": row, "counted_at": now}
        )


def recent_periods(*, now: datetime | None = None) -> list[str]:
    """The periods of the runs started in the last ``RECOUNT_DAYS`` days."""
    since = (now or timezone.now()) - timedelta(days=RECOUNT_DAYS)
    runs = DigestRun.objects.filter(started_at__gte=since)
    return list(runs.values_list("period", flat=True).distinct())
