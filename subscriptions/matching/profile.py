"""A reader's profile from what they told us about papers: Rocchio in embedding space.

Each signal is a paper and a weight: "more like this" and "less like this" (``Feedback``),
and any weighted positives ``Interests.positives`` carries (seed papers pasted at sign-up;
saves and clicks once they exist). ``profile_signals`` is the one place that says what each
kind of signal weighs. Positives and negatives are each averaged (Rocchio: beta times the mean
of the positives, minus gamma times the mean of the negatives), so twenty likes do not drown
a reader's typed interests any more than one does.

Ranking turns the signals into a sparse subscribers x feedback-papers matrix and multiplies it
with the feedback papers' similarity to every candidate (cosine of embeddings where both have
one, else TF-IDF): the profile's relevance for a whole batch of readers is two matrix products,
never a loop over reader x paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from papers.embeddings import model_id, paper_vector
from papers.models import Paper
from subscriptions.matching.interests import Interests


@dataclass(frozen=True, slots=True)
class FeedbackPaper:
    """A paper a reader gave a signal about, as the profile needs it."""

    title: str
    abstract: str
    vector: np.ndarray | None = None  # its embedding, when stored


def profile_signals(interests: Interests, weights: Mapping[str, Any]) -> list[tuple[int, float]]:
    """(paper id, weight) of every signal of a reader: positive pulls similar papers up,
    negative pushes them down. Each side sums to its Rocchio weight (``MORE_LIKE_THIS``,
    ``LESS_LIKE_THIS``), shared by its signals in proportion to their own weight."""
    positives: dict[int, float] = {paper: 1.0 for paper in interests.liked}
    for paper, weight in interests.positives:
        positives[paper] = max(positives.get(paper, 0.0), weight)
    negatives = {paper: 1.0 for paper in interests.disliked if paper not in positives}
    signals: list[tuple[int, float]] = []
    for side, total in (
        (positives, weights["MORE_LIKE_THIS"]),
        (negatives, -weights["LESS_LIKE_THIS"]),
    ):
        mass = sum(side.values())
        signals.extend((paper, total * weight / mass) for paper, weight in side.items() if mass)
    return signals


def feedback_papers(*, interests: Iterable[Interests]) -> dict[int, FeedbackPaper]:
    """The papers the given readers gave signals about, read in one query."""
    ids = {p for i in interests for p in (*i.liked, *i.disliked, *(p for p, _ in i.positives))}
    if not ids:
        return {}
    model = model_id()
    rows = Paper.objects.filter(pk__in=ids).values_list(
        "pk", "title", "abstract", "embedding", "embedding_key"
    )
    return {
        pk: FeedbackPaper(
            title=title,
            abstract=abstract,
            vector=paper_vector(
                title=title, abstract=abstract, embedding=embedding, key=key, model=model
            ),
        )
        for pk, title, abstract, embedding, key in rows
    }
