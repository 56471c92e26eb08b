"""Celery tasks for papers. Each only calls into papers.ingest / papers.topics."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .ingest import ingest_source as ingest_named_source
from .ingest import parse_day
from .topics import retag_all_papers, tag_papers


# No task-level retry: fetch_document already retries passing failures, and the beat
# schedule runs the ingest again later in the day.
@shared_task(acks_late=True)
def ingest_source(
    source: str, date: str | None = None, categories: list[str] | None = None
) -> list[dict[str, object]]:
    """Ingest a source for a day (YYYY-MM-DD, default today). Safe to run twice: upserts."""
    results = ingest_named_source(
        source=source,
        day=parse_day(date) if date else None,
        categories=categories or settings.ARXIV_CATEGORIES,
    )
    return [
        {
            "location": result.location,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "skipped": len(result.skipped),
        }
        for result in results
    ]


@shared_task(acks_late=True)
def retag_papers() -> int:
    """Recompute every paper's automatic topic tags (after a topic's keywords changed)."""
    return retag_all_papers()


@shared_task(acks_late=True)
def retag_selected_papers(paper_ids: list[int]) -> int:
    """Recompute the automatic topic tags of the given papers (an admin's bulk action)."""
    return tag_papers(paper_ids=paper_ids)
