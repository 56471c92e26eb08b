"""A reader's profile from what they told us about papers: Rocchio in embedding space.

Each signal is a paper and a weight: "more like this" and "less like this" (``Feedback``),
papers saved for later (strong) and followed from a digest (mild), and the weighted positives
``Interests.positives`` carries (papers pasted at sign-up). ``profile_signals`` is the one
place that says what each kind of signal weighs. Positives and negatives are each averaged
(Rocchio: beta times the mean of the positives, minus gamma times the mean of the negatives),
so twenty likes do not drown a reader's typed interests any more than a few do.

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


def has_signals(interests: Interests) -> bool:
    """Whether the reader told us anything about papers."""
    return bool(
        interests.liked
        or interests.disliked
        or interests.saved
        or interests.clicked
        or interests.positives
    )


def signal_papers(interests: Interests) -> set[int]:
    """Every paper a reader gave a signal about."""
    return {
        *interests.liked,
        *interests.disliked,
        *interests.saved,
        *interests.clicked,
        *(paper for paper, _ in interests.positives),
    }


def profile_signals(interests: Interests, weights: Mapping[str, Any]) -> list[tuple[int, float]]:
    """(paper id, weight) of every signal of a reader: positive pulls similar papers up,
    negative pushes them down. This is the one place that weighs signals.

    Each positive counts as its kind weighs relative to "more like this" (a save
    ``SAVED / MORE_LIKE_THIS``, a click ``CLICKED / MORE_LIKE_THIS``, a pasted paper
    ``Interests.positives``' weight, a like 1); a paper with several counts by its strongest,
    and an explicit "less like this" wins over a click or a save of the same paper.
    Each side is then a weighted mean times its Rocchio weight (``MORE_LIKE_THIS``,
    ``LESS_LIKE_THIS``): one like pulls by ``MORE_LIKE_THIS``, one save by ``SAVED``, one
    click by ``CLICKED``, and twenty likes together no more than one. All of it times
    ``PROFILE_SCALE``, which puts it in the units of an interest's relevance.
    """
    more = weights["MORE_LIKE_THIS"]
    kinds = (
        (interests.clicked, weights["CLICKED"] / more),
        (interests.liked, 1.0),
        (interests.saved, weights["SAVED"] / more),
    )
    negatives = dict.fromkeys(interests.disliked, 1.0)
    positives: dict[int, float] = {}
    for papers, weight in (*kinds, *(((paper,), w) for paper, w in interests.positives)):
        for paper in papers:
            if paper not in negatives:
                positives[paper] = max(positives.get(paper, 0.0), weight)
    scale = weights["PROFILE_SCALE"]
    signals: list[tuple[int, float]] = []
    for side, total in ((positives, more), (negatives, -weights["LESS_LIKE_THIS"])):
        mass = max(len(side), 1)
        signals.extend((paper, scale * total * weight / mass) for paper, weight in side.items())
    return signals


def feedback_papers(*, interests: Iterable[Interests]) -> dict[int, FeedbackPaper]:
    """The papers the given readers gave signals about, read in one query."""
    ids = {paper for reader in interests for paper in signal_papers(reader)}
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
