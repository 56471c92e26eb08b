"""Why a run or a ranking found nothing to do, in words an operator can act on."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from papers.models import IngestRun
from papers.selectors import latest_featured_day
from subscriptions.delivery.digests import candidate_window, window_papers
from subscriptions.delivery.schedule import period_of, readers_in_slot
from subscriptions.models import Subscriber


def last_ingest() -> str:
    """ "last ingest 2025-12-02 12:15 UTC (succeeded, created 3) of <location>", or "no
    ingest has run"."""
    run = IngestRun.objects.order_by("-started_at").first()
    if run is None:
        return "no ingest has run yet"
    when = timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M %Z")
    outcome = run.status
    if run.status == IngestRun.Status.SUCCEEDED:
        outcome += f", created {run.created}, updated {run.updated}"
    elif run.error:
        outcome += f": {run.error[:200]}"
    return f"last ingest {when} ({outcome}) of {run.location}"


def no_candidates(*, day: date, frequency: str) -> str | None:
    """Why a digest of ``day`` would have no candidate paper, or None if it has some."""
    if window_papers(day=day, frequency=frequency).exists():
        return None
    start, end = candidate_window(day=day, frequency=frequency)
    latest = latest_featured_day()
    featured = f"latest featured day {latest}" if latest else "no paper was ever featured"
    return (
        f"no papers featured (or published) from {start} to {end}, the {frequency} "
        f"window of {day}: {featured}; {last_ingest()}"
    )


def why_nothing_built(*, day: date, frequency: str, slot: str = "", empty: int = 0) -> str:
    """Why a run of ``day`` built no digest: no readers, no papers, no match (``empty``:
    how many readers the run found nothing new for), or everyone had it already."""
    active = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=frequency)
    among = f" {slot.replace(':', ' ')}" if slot else ""
    if not readers_in_slot(active, day=day, frequency=frequency, slot=slot).exists():
        return f"no active {frequency} readers{among}"
    reason = no_candidates(day=day, frequency=frequency)
    if reason is not None:
        return reason
    if empty:
        return f"nothing new matched the interests of {empty} reader{'s' if empty != 1 else ''}"
    period = period_of(day=day, frequency=frequency)
    return f"every active {frequency} reader{among} already has the digest of {period}"
