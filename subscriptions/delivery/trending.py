"""The "Trending" section of a digest: the fastest rising papers a reader has not had.

Rising is upvotes gained (over 24 h; over the week for a weekly digest) as observed by
ingests (``papers.selectors.with_growth``), ties broken by the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.conf import settings

from subscriptions.matching.candidates import CandidateSet
from subscriptions.matching.interests import Interests
from subscriptions.matching.profile import signal_papers
from subscriptions.matching.ranking import RankedPaper

# The columns considered, fastest rising first: more than any reader can exclude or have had.
TRENDING_POOL = 50


def trending_columns(*, candidates: CandidateSet, day: date, weekly: bool) -> list[int]:
    """Candidate columns of the latest listed day (the whole window, weekly), rising fastest
    first (upvotes gained over 24 h, over the week for weekly), ties by total upvotes."""
    columns: Sequence[int] = range(candidates.size)
    if not weekly:
        listed = [d for d in candidates.days.tolist() if 0 < d <= day.toordinal()]
        latest = max(listed, default=0)
        columns = [c for c in columns if candidates.days[c] == latest]
    papers = candidates.papers
    order = sorted(
        columns, key=lambda c: (-papers[c].growth, -papers[c].upvotes, candidates.paper_ids[c])
    )
    return order[:TRENDING_POOL]


def trending_for(
    *,
    interests: Interests,
    for_you: list[RankedPaper],
    sent: set[int],
    candidates: CandidateSet,
    pool: list[int],
) -> list[RankedPaper]:
    """The day's fastest rising papers this subscriber has not had, did not exclude and
    gave no signal about."""
    # Nor one they told us about (pasted, saved, liked): they know it.
    picked = {p.paper_id for p in for_you} | sent | signal_papers(interests)
    wanted = settings.DIGESTS["TRENDING_COUNT"]
    chosen: list[RankedPaper] = []
    for column in pool:
        if len(chosen) == wanted:
            break
        paper = candidates.papers[column]
        if paper.paper_id in picked:
            continue
        if any(candidates.mentions(phrase.casefold())[column] for phrase in interests.excluded):
            continue
        chosen.append(RankedPaper(paper.paper_id, 0.0, candidates.paper_reasons[column]))
    return chosen
