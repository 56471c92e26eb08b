"""Ranking candidate papers for many subscribers at once, with the reasons for each pick.

The candidates are vectorised once per run (``subscriptions.matching.candidates``); each batch of
subscribers is then scored with sparse matrix products:

    relevance = keywords · keyword-paper relevance + topics · topic-paper strength
              + followed authors · author-paper
    score     = w_rel · relevance / best relevance of the subscriber
              + w_pop · popularity + w_pin · pinned

No Python loop runs over subscriber-paper pairs while scoring; Python only names the reasons
of the few papers each subscriber gets. Weights come from ``settings.RANKING``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from subscriptions.collector import collecting_only_new_objects
from subscriptions.matching.candidates import (
    REASON_WORDS,
    CandidatePaper,
    CandidateSet,
    Reason,
    TopicProfile,
    candidate_papers,
    normalise_author,
    topic_profiles,
    vectorise_candidates,
)
from subscriptions.matching.interests import Interests
from subscriptions.matching.profile import (
    FeedbackPaper,
    has_signals,
    profile_signals,
    signal_papers,
)

__all__ = [
    "CandidatePaper",
    "CandidateSet",
    "RankedPaper",
    "Reason",
    "TopicProfile",
    "candidate_papers",
    "rank_in_batches",
    "rank_papers_for",
    "topic_profiles",
    "vectorise_candidates",
]


@dataclass(frozen=True, slots=True)
class RankedPaper:
    """One pick for one subscriber: the paper, its score, and why."""

    paper_id: int
    score: float
    reasons: tuple[Reason, ...]


def rank_papers_for(
    *,
    subscribers: Sequence[Interests],
    candidates: CandidateSet,
    limit: int = 10,
    already_sent: Mapping[int, Iterable[int]] | None = None,
    feedback: Mapping[int, FeedbackPaper] | None = None,
) -> list[list[RankedPaper]]:
    """The best ``limit`` candidates for each subscriber (in order), with score and reasons.

    Hidden papers must not be among the candidates; papers matching an excluded keyword,
    papers that arrived before a subscriber's ``since``, and, by subscriber id, papers in
    ``already_sent`` never appear, nor papers a subscriber gave a signal about (liked,
    disliked, saved, clicked or named at sign-up: they know those). A paper must be relevant
    (``MIN_RELEVANCE``) or pinned to be picked, so a subscriber may get fewer than ``limit``.
    ``feedback`` holds those signal papers (``profile.feedback_papers``), which steer their
    ranking.
    """
    if not subscribers:
        return []
    if candidates.size == 0:
        return [[] for _ in subscribers]
    weights = candidates.weights
    batch = _Batch.build(subscribers, candidates, feedback or {})
    relevance = batch.relevance()

    best = relevance.max(axis=1, keepdims=True)
    score = weights["RELEVANCE"] * relevance / np.maximum(best, 1e-9)
    score += weights["POPULARITY"] * candidates.popularity
    score += weights["PINNED"] * candidates.pinned
    eligible = (relevance >= weights["MIN_RELEVANCE"]) | candidates.pinned
    eligible &= ~batch.excluded()
    eligible &= ~batch.seen_before()
    eligible &= ~_known_mask(subscribers, candidates, already_sent or {})
    score[~eligible] = -np.inf

    top = _top_columns(score, limit)
    top_scores = np.take_along_axis(score, top, axis=1)
    picked = np.isfinite(top_scores).tolist()
    ids = candidates.paper_ids
    return [
        [
            RankedPaper(ids[column], round(value, 4), batch.reasons(row, column))
            for column, value, ok in zip(columns, values, oks, strict=True)
            if ok
        ]
        for row, (columns, values, oks) in enumerate(
            zip(top.tolist(), top_scores.tolist(), picked, strict=True)
        )
    ]


def rank_in_batches(
    *,
    subscribers: Iterable[Interests],
    candidates: CandidateSet,
    limit: int = 10,
    batch_size: int | None = None,
) -> Iterator[tuple[Interests, list[RankedPaper]]]:
    """``rank_papers_for`` over any number of subscribers, a batch at a time, lazily."""
    size = batch_size or candidates.weights["SUBSCRIBER_BATCH_SIZE"]
    batch: list[Interests] = []
    for interests in subscribers:
        batch.append(interests)
        if len(batch) == size:
            yield from _ranked(batch, candidates, limit)
            batch = []
    if batch:
        yield from _ranked(batch, candidates, limit)


def _ranked(
    batch: list[Interests], candidates: CandidateSet, limit: int
) -> Iterator[tuple[Interests, list[RankedPaper]]]:
    with collecting_only_new_objects():
        picks = rank_papers_for(subscribers=batch, candidates=candidates, limit=limit)
    return zip(batch, picks, strict=True)


def _top_columns(score: np.ndarray, limit: int) -> np.ndarray:
    """Per row, the columns of the ``limit`` highest scores, best first."""
    width = score.shape[1]
    limit = min(limit, width)
    if limit == 0:
        return np.zeros((score.shape[0], 0), dtype=np.int64)
    # Partitioning the negated scores at a small k is many times faster than at k near the
    # end when most scores are the same -inf (measured: 11 ms against 170 ms per batch).
    part = np.argpartition(-score, limit - 1, axis=1)[:, :limit]
    order = np.argsort(-np.take_along_axis(score, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _known_mask(
    subscribers: Sequence[Interests],
    candidates: CandidateSet,
    already_sent: Mapping[int, Iterable[int]],
) -> np.ndarray:
    """Per subscriber, the papers they know: sent to them (by subscriber id) or named in a
    signal (a paper pasted at sign-up or saved from the site, most like itself, would lead
    their digest with "like ... you liked" otherwise)."""
    column = {paper_id: index for index, paper_id in enumerate(candidates.paper_ids)}
    mask = np.zeros((len(subscribers), candidates.size), dtype=bool)
    for row, interests in enumerate(subscribers):
        known = (
            set(already_sent.get(interests.subscriber_id, ()))
            if interests.subscriber_id is not None
            else set()
        )
        if has_signals(interests):
            known |= signal_papers(interests)
        if known:
            mask[row, [column[p] for p in known if p in column]] = True
    return mask


def _indicator(rows: list[list[int]], width: int, *, scaled: bool = False) -> sparse.csr_matrix:
    """A 0/1 sparse matrix with a 1 at (i, j) for each j in rows[i]; ``scaled``, each row's
    entries are 1/sqrt(their number) instead: a reader's many interests together weigh about
    as much as a few, so their topics, authors and feedback are not drowned by them."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(lengths)
    indices = np.fromiter((j for r in rows for j in r), dtype=np.int64, count=int(indptr[-1]))
    if scaled:
        per_row = 1.0 / np.sqrt(np.maximum(lengths, 1)).astype(np.float32)
        data = np.repeat(per_row, lengths).astype(np.float32)
    else:
        data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width))


@dataclass
class _Batch:
    """One batch of subscribers as indicator matrices over the run's shared vocabularies."""

    subscribers: Sequence[Interests]
    candidates: CandidateSet
    keyword_rows: list[list[int]]  # per subscriber, row of each of their keywords
    keyword_relevance: np.ndarray  # batch keywords x papers
    keyword_is_reason: np.ndarray  # batch keywords x papers: REASON_WORDS, REASON_RELATED or 0
    subscriber_keywords: sparse.csr_matrix  # subscribers x batch keywords
    subscriber_topics: sparse.csr_matrix  # subscribers x topics
    topic_sets: list[frozenset[int]]
    followed: list[list[str]]  # per subscriber, normalised followed author names
    subscriber_authors: sparse.csr_matrix  # subscribers x candidate authors
    exclusions: list[str]
    subscriber_exclusions: sparse.csr_matrix  # subscribers x batch exclusions
    feedback_likeness: np.ndarray  # batch feedback papers x candidates
    subscriber_feedback: sparse.csr_matrix  # subscribers x batch feedback papers, +1/-1 weighted
    feedback_titles: list[str]  # per batch feedback paper, its title ("" if unknown)

    @classmethod
    def build(
        cls,
        subscribers: Sequence[Interests],
        candidates: CandidateSet,
        feedback: Mapping[int, FeedbackPaper],
    ) -> _Batch:
        keyword_index: dict[str, int] = {}
        exclusion_index: dict[str, int] = {}
        keyword_rows, topic_rows, author_rows, exclusion_rows, followed = [], [], [], [], []
        for interests in subscribers:
            keyword_rows.append(
                [
                    keyword_index.setdefault(k.casefold(), len(keyword_index))
                    for k in interests.keywords
                ]
            )
            topic_rows.append(
                [candidates.topic_row[t] for t in interests.topic_ids if t in candidates.topic_row]
            )
            names = [normalise_author(name) for name in interests.authors]
            followed.append(names)
            author_rows.append(
                [candidates.author_column[n] for n in names if n in candidates.author_column]
            )
            exclusion_rows.append(
                [
                    exclusion_index.setdefault(e.casefold(), len(exclusion_index))
                    for e in interests.excluded
                ]
            )
        keyword_relevance, keyword_is_reason = candidates.keyword_rows(list(keyword_index))
        feedback_ids: dict[int, int] = {}
        rows, cols, signs = [], [], []
        for row, interests in enumerate(subscribers):
            if not has_signals(interests):
                continue
            for paper_id, weight in profile_signals(interests, candidates.weights):
                rows.append(row)
                cols.append(feedback_ids.setdefault(paper_id, len(feedback_ids)))
                signs.append(weight)
        subscriber_feedback = sparse.csr_matrix(
            (np.array(signs, dtype=np.float32), (rows, cols)),
            shape=(len(subscribers), len(feedback_ids)),
        )
        return cls(
            subscribers=subscribers,
            candidates=candidates,
            keyword_rows=keyword_rows,
            keyword_relevance=keyword_relevance,
            keyword_is_reason=keyword_is_reason,
            subscriber_keywords=_indicator(keyword_rows, len(keyword_index), scaled=True),
            subscriber_topics=_indicator(topic_rows, len(candidates.topics)),
            topic_sets=[frozenset(interests.topic_ids) for interests in subscribers],
            followed=followed,
            subscriber_authors=_indicator(author_rows, len(candidates.author_column)),
            exclusions=list(exclusion_index),
            subscriber_exclusions=_indicator(exclusion_rows, len(exclusion_index)),
            feedback_likeness=candidates.likeness(feedback, list(feedback_ids)),
            subscriber_feedback=subscriber_feedback,
            feedback_titles=[feedback[p].title if p in feedback else "" for p in feedback_ids],
        )

    def relevance(self) -> np.ndarray:
        """Subscribers x papers: how well each paper matches each subscriber's interests."""
        weights, candidates = self.candidates.weights, self.candidates
        relevance = weights["KEYWORD"] * (self.subscriber_keywords @ self.keyword_relevance)
        relevance += weights["TOPIC"] * (self.subscriber_topics @ candidates.topic_paper)
        if self.subscriber_authors.nnz:
            by_author = self.subscriber_authors @ candidates.author_paper
            relevance += weights["AUTHOR"] * by_author.toarray()
        if self.subscriber_feedback.nnz:
            # Less-like-this can push a paper below zero; it then simply is not relevant.
            relevance += self.subscriber_feedback @ self.feedback_likeness
        return np.asarray(relevance, dtype=np.float32)

    def seen_before(self) -> np.ndarray:
        """Subscribers x papers: True for papers that arrived before the subscriber's ``since``."""
        since = np.array(
            [s.since.timestamp() if s.since else 0.0 for s in self.subscribers], dtype=np.float64
        )
        if not since.any():
            return np.zeros((len(self.subscribers), self.candidates.size), dtype=bool)
        arrivals = self.candidates.arrivals
        return (arrivals[None, :] <= since[:, None]) & (arrivals[None, :] > 0)

    def excluded(self) -> np.ndarray:
        """Subscribers x papers: True where the paper mentions a phrase the subscriber excluded."""
        if not self.exclusions:
            return np.zeros((len(self.subscribers), self.candidates.size), dtype=bool)
        mentions = np.vstack([self.candidates.mentions(phrase) for phrase in self.exclusions])
        return (self.subscriber_exclusions @ mentions.astype(np.float32)) > 0

    def _liked_like(self, row: int, column: int) -> str | None:
        """The title of the paper this reader signalled wanting (liked, saved, clicked,
        pasted) that paper ``column`` is most like, if it is like it enough to say so."""
        feedback = self.subscriber_feedback
        start, end = feedback.indptr[row], feedback.indptr[row + 1]
        if start == end:
            return None
        signals = feedback.indices[start:end][feedback.data[start:end] > 0]
        if not len(signals):
            return None
        likeness = self.feedback_likeness[signals, column]
        best = int(np.argmax(likeness))
        if likeness[best] < self.candidates.weights["LIKED_REASON_MIN"]:
            return None
        return self.feedback_titles[int(signals[best])] or None

    def reasons(self, row: int, column: int) -> tuple[Reason, ...]:
        """Why paper ``column`` was picked for subscriber ``row``, strongest reason first."""
        candidates = self.candidates
        interests = self.subscribers[row]
        wanted = self.topic_sets[row]
        found = [
            candidates.topic_reason[topic]
            for topic in candidates.paper_topics[column]
            if topic in wanted and topic in candidates.topic_reason
        ]
        matched: list[str] = []
        related: list[Reason] = []
        reason_codes = self.keyword_is_reason
        for keyword, index in zip(interests.keywords, self.keyword_rows[row], strict=True):
            why = reason_codes[index, column]
            if not why:
                continue
            words = candidates.matched_words(keyword, column) if why == REASON_WORDS else None
            if not words:
                related.append(Reason("related", keyword))
            elif matched:
                matched.extend(w for w in words if w not in matched)
            else:
                matched = list(words)
        if matched:
            found.append(Reason("keyword", ", ".join(matched)))
        found += related
        liked = self._liked_like(row, column) if self.subscriber_feedback.nnz else None
        if liked:
            found.append(Reason("liked", liked))
        if self.followed[row]:
            written_by = candidates.paper_authors[column]
            found.extend(
                Reason("author", written_by[name])
                for name in self.followed[row]
                if name in written_by
            )
        found.extend(candidates.paper_reasons[column])
        return tuple(found)
