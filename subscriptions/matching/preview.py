"""What a reader with given interests would be picked from the papers we have, for people.

The ``rank`` command prints it; a preferences page can show it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial

from django.db.models import Q
from django.utils import timezone

from papers.embeddings import phrase_vectors
from papers.models import Paper
from subscriptions.matching.candidates import (
    CandidateSet,
    candidate_papers,
    topic_profiles,
    vectorise_candidates,
)
from subscriptions.matching.interests import Interests
from subscriptions.matching.profile import feedback_papers
from subscriptions.matching.ranking import rank_papers_for


@dataclass(frozen=True)
class PreviewPick:
    """One paper picked for the interests, with what a person reads of it."""

    paper_id: int
    title: str
    arxiv_id: str | None
    score: float
    reasons: list[str]


def latest_listing_day(*, today: date) -> date:
    """The latest day up to ``today`` that papers were featured on (``today`` if none)."""
    latest = (
        Paper.objects.filter(hidden=False, featured_on__lte=today)
        .order_by("-featured_on")
        .values_list("featured_on", flat=True)
        .first()
    )
    return latest or today


def preview_picks(
    *,
    interests: Interests,
    since: date | None = None,
    today: date | None = None,
    limit: int = 10,
    candidates: CandidateSet | None = None,
    keep_phrases: bool = True,
) -> list[PreviewPick]:
    """The best ``limit`` papers for ``interests``, best first, as a digest's ranking would
    score them on ``today`` (default: today), from every visible paper or those featured or
    published on or after ``since``; or from ``candidates`` (a digest's own, for the caller
    that has them). Papers the interests name as liked (``positives``, ``liked``) steer it as
    they steer a digest. Without ``keep_phrases`` the interests' embeddings are made for this
    call only, never stored (a visitor's preview: anyone may type anything)."""
    if candidates is None:
        papers = Paper.objects.all()
        if since is not None:
            papers = papers.filter(Q(featured_on__gte=since) | Q(published_on__gte=since))
        candidates = vectorise_candidates(
            papers=candidate_papers(papers=papers),
            topics=topic_profiles(),
            today=today or timezone.localdate(),
        )
    if not keep_phrases:
        # A copy with caches of its own, dropped with the request: what a visitor typed is
        # kept neither in the database nor in the run's caches, which live in the process.
        candidates = candidates.with_own_caches(phrase_vectors=partial(phrase_vectors, store=False))
    [picks] = rank_papers_for(
        subscribers=[interests],
        candidates=candidates,
        limit=limit,
        feedback=feedback_papers(interests=[interests]),
    )
    shown = Paper.objects.filter(pk__in=[pick.paper_id for pick in picks])
    facts = {
        pk: (title, arxiv_id)
        for pk, title, arxiv_id in shown.values_list("pk", "title", "arxiv_id")
    }
    return [
        PreviewPick(
            paper_id=pick.paper_id,
            title=facts[pick.paper_id][0],
            arxiv_id=facts[pick.paper_id][1] or None,
            score=pick.score,
            reasons=[str(reason) for reason in pick.reasons],
        )
        for pick in picks
    ]
