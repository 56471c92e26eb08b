"""Read-only queries over papers, shared by views, commands and the digests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import DayNote, Paper, PaperTopic, Topic, UpvoteObservation
from .sources.records import normalise_arxiv_id, normalise_title

if TYPE_CHECKING:
    # Typing only (django-stubs' helper): nothing of it is needed at run time.
    from django_stubs_ext import WithAnnotations

SEARCH_RESULTS_LIMIT = 50


def visible_papers() -> QuerySet[Paper]:
    """Papers a reader may see: everything a curator has not hidden. Their stored analysis
    (``terms``, a second copy of the text) is left unread: only ranking reads it."""
    return Paper.objects.filter(hidden=False).defer("terms", "embedding")


# A primary key as a link writes it: ASCII digits, within a 64-bit integer. str.isdigit()
# also admits "²" (int() refuses it: a 500) and Arabic-Indic or full-width digits (int() reads
# "٣" as 3).
_MAX_ID_DIGITS = 18


def visible_paper(*, paper_id: str) -> Paper | None:
    """The visible paper whose id ``paper_id`` spells in ASCII digits; None for anything
    else (another spelling, an unknown id, a paper a curator hid)."""
    if not (paper_id.isascii() and paper_id.isdigit() and len(paper_id) <= _MAX_ID_DIGITS):
        return None
    return visible_papers().filter(pk=int(paper_id)).first()


def _shown_tags() -> QuerySet[PaperTopic]:
    """Topic tags readers see: all but those removed by hand, strongest first."""
    return PaperTopic.objects.exclude(origin=PaperTopic.Origin.REMOVED).order_by("-score")


def with_shown_tags(papers: QuerySet[Paper]) -> QuerySet[Paper]:
    """``papers`` with ``shown_tags``: their topic tags (not removed), strongest first."""
    tags = _shown_tags().select_related("topic")
    return papers.prefetch_related(Prefetch("topic_tags", queryset=tags, to_attr="shown_tags"))


def shown_topic_names(paper_ids: Iterable[int]) -> dict[int, list[str]]:
    """The names of the topics each paper is shown with, strongest first, as plain values."""
    names: dict[int, list[str]] = {}
    rows = _shown_tags().filter(paper_id__in=paper_ids).values_list("paper_id", "topic__name")
    for paper_id, name in rows:
        names.setdefault(paper_id, []).append(name)
    return names


def about_topic(papers: QuerySet[Paper], *, topic: Topic) -> QuerySet[Paper]:
    """``papers`` tagged with ``topic`` (automatically or by hand, not removed by hand)."""
    shown = [PaperTopic.Origin.AUTO, PaperTopic.Origin.ADDED]
    return papers.filter(topic_tags__topic=topic, topic_tags__origin__in=shown)


def latest_featured_day() -> date | None:
    """The most recent day any visible paper was featured on, or None with no papers."""
    return (
        visible_papers()
        .exclude(featured_on=None)
        .order_by("-featured_on")
        .values_list("featured_on", flat=True)
        .first()
    )


def featured_days() -> QuerySet[Paper, dict[str, Any]]:
    """Every day with visible papers, newest first, as ``{"featured_on", "papers"}`` rows
    (how many papers that day): the archive's index."""
    return (
        visible_papers()
        .exclude(featured_on=None)
        .values("featured_on")
        .annotate(papers=Count("pk"))
        .order_by("-featured_on")
    )


def day_note(*, day: date) -> str:
    """The editors' note for ``day``, or "" when they wrote none."""
    return DayNote.objects.filter(day=day).values_list("text", flat=True).first() or ""


def day_notes(*, days: Iterable[date]) -> dict[date, str]:
    """The editors' notes of ``days`` that have one, in one query."""
    return dict(DayNote.objects.filter(day__in=list(days)).values_list("day", "text"))


def neighbour_days(*, day: date) -> tuple[date | None, date | None]:
    """The nearest earlier and later days with visible papers."""
    days = visible_papers().exclude(featured_on=None).values_list("featured_on", flat=True)
    earlier = days.filter(featured_on__lt=day).order_by("-featured_on").first()
    later = days.filter(featured_on__gt=day).order_by("featured_on").first()
    return earlier, later


# The orders of a day's papers on the home page, the default first: what each is called.
PAPER_ORDERS = {"trending": "Trending", "top": "Top", "week": "This week"}
WEEK_DAYS = 7


def papers_featured_on(
    *, day: date, topic: Topic | None = None, order: str = "trending"
) -> QuerySet[Paper]:
    """The visible papers featured on ``day`` (about ``topic``), pinned first, then by
    ``order`` (one of ``PAPER_ORDERS``), each annotated with ``growth``:

    - "trending": upvotes gained in the 24 hours up to ``day``'s end (or now), ties by total;
    - "top": total upvotes;
    - "week": the papers of the 7 days up to ``day``, by upvotes gained over those 7 days,
      ties by total.
    """
    if order not in PAPER_ORDERS:
        raise ValueError(f"unknown order {order!r}: one of {', '.join(PAPER_ORDERS)}")
    papers = visible_papers()
    if order == "week":
        papers = papers.filter(featured_on__range=(day - timedelta(days=WEEK_DAYS - 1), day))
    else:
        papers = papers.filter(featured_on=day)
    if topic is not None:
        papers = about_topic(papers, topic=topic)
    hours = 24 * (WEEK_DAYS if order == "week" else 1)
    growing = with_growth(papers, hours=hours, now=growth_until(day=day))
    if order == "top":
        return with_shown_tags(growing.order_by("-pinned", "-upvotes", "id"))
    return with_shown_tags(growing.order_by("-pinned", "-growth", "-upvotes", "id"))


def growth_until(*, day: date, now: datetime | None = None) -> datetime:
    """The moment growth is measured up to for ``day`` (a digest's, a page's): now, for
    today; the end of ``day`` (UTC) for a day gone by, whatever day it is asked on."""
    now = now or timezone.now()
    return min(now, datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC))


def search_papers(*, query: str, topic: Topic | None = None) -> QuerySet[Paper]:
    """Visible papers whose title or abstract contains every word of ``query``, newest first."""
    papers = visible_papers()
    for word in query.split()[:10]:
        papers = papers.filter(Q(title__icontains=word) | Q(abstract__icontains=word))
    if topic is not None:
        papers = about_topic(papers, topic=topic)
    ordered = papers.order_by("-featured_on", "-upvotes", "id")[:SEARCH_RESULTS_LIMIT]
    return with_shown_tags(ordered)


class Growth(TypedDict):
    """What ``with_growth`` adds to each paper (so type checking knows ``growth``)."""

    growth: int


def with_growth(
    papers: QuerySet[Paper], *, hours: float = 24, now: datetime | None = None
) -> QuerySet[WithAnnotations[Paper, Growth]]:
    """``papers`` annotated with ``growth``: upvotes gained over the ``hours`` up to ``now``
    (default: the present), from upvote observations only.

    The gain runs from the last count observed before the window opened (or, for a paper
    first observed inside the window, from that first count) to the last count observed by
    ``now``. A paper observed once has no growth; one never observed has none either.
    """
    until = now or timezone.now()
    before = until - timedelta(hours=hours)
    observed = UpvoteObservation.objects.filter(paper=OuterRef("pk"), observed_at__lte=until)
    latest = observed.order_by("-observed_at").values("upvotes")[:1]
    opening = observed.filter(observed_at__lt=before).order_by("-observed_at").values("upvotes")
    first = observed.order_by("observed_at").values("upvotes")[:1]
    baseline = Coalesce(Subquery(opening[:1]), Subquery(first))
    return papers.annotate(
        growth=Coalesce(Subquery(latest) - baseline, Value(0), output_field=IntegerField())
    )


# An arXiv id inside a Hugging Face link (huggingface.co/papers/2505.01234) or any text.
_ARXIV_ID_IN_TEXT = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])")


def find_papers(*, entries: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Papers a reader named, each by an arXiv id, an arXiv or Hugging Face link, or its title,
    among the visible papers: ({entry: paper id} for those found, [entries not found])."""
    wanted: dict[str, tuple[str, str]] = {}
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        arxiv_id = normalise_arxiv_id(text)
        if not arxiv_id:
            match = _ARXIV_ID_IN_TEXT.search(text)
            arxiv_id = match.group(1) if match else ""
        wanted[text] = (arxiv_id, "" if arxiv_id else normalise_title(text))
    ids = {a for a, _ in wanted.values() if a}
    keys = {k for _, k in wanted.values() if k}
    visible = Paper.objects.filter(hidden=False)
    by_arxiv = dict(visible.filter(arxiv_id__in=ids).values_list("arxiv_id", "pk"))
    by_title: dict[str, int] = {}
    titled = visible.filter(title_key__in=keys).order_by("pk").values_list("title_key", "pk")
    for key, pk in titled:
        by_title.setdefault(key, pk)
    found: dict[str, int] = {}
    missing: list[str] = []
    for text, (arxiv_id, key) in wanted.items():
        paper_pk = by_arxiv.get(arxiv_id) if arxiv_id else by_title.get(key)
        if paper_pk is None:
            missing.append(text)
        else:
            found[text] = paper_pk
    return found, missing
