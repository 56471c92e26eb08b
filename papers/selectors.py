"""Read-only queries over papers, shared by views, commands and later the digests."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch, QuerySet

from .models import Paper, PaperTopic


def visible_papers() -> QuerySet[Paper]:
    """Papers a reader may see: everything a curator has not hidden."""
    return Paper.objects.filter(hidden=False)


def latest_featured_day() -> date | None:
    """The most recent day any visible paper was featured on, or None with no papers."""
    return (
        visible_papers()
        .exclude(featured_on=None)
        .order_by("-featured_on")
        .values_list("featured_on", flat=True)
        .first()
    )


def papers_featured_on(*, day: date) -> QuerySet[Paper]:
    """The visible papers featured on ``day``, most upvoted first, with their topic tags."""
    shown_tags = PaperTopic.objects.exclude(origin=PaperTopic.Origin.REMOVED).select_related(
        "topic"
    )
    return (
        visible_papers()
        .filter(featured_on=day)
        .order_by("-pinned", "-upvotes", "id")
        .prefetch_related(Prefetch("topic_tags", queryset=shown_tags, to_attr="shown_tags"))
    )
