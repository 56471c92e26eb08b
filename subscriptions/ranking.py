"""Ranking candidate papers for many subscribers at once, with the reasons for each pick.

The candidates are vectorised once per run (TF-IDF over stemmed words and phrases, the title
counting twice); each batch of subscribers is then scored with sparse matrix products:

    relevance = keywords · (keyword-paper similarity + keyword-topic expansion · topic-paper)
              + topics · topic-paper + followed authors · author-paper
    score     = w_rel · relevance / best relevance of the subscriber
              + w_pop · popularity + w_pin · pinned

No Python loop runs over subscriber-paper pairs while scoring; Python only names the reasons
of the few papers each subscriber gets. Weights come from ``settings.RANKING``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from papers.models import Paper, PaperTopic, Topic, UpvoteObservation
from papers.text import content_tokens, ngram_counts

from .interests import Interests

_MAX_NGRAM = 3
_TITLE_REPEAT = 2
# Cosine similarity of a keyword to a topic's phrases above which the keyword also counts
# as interest in the topic ("face recognition" -> Face analysis).
_EXPANSION_MIN_SIMILARITY = 0.3
# How much a topic's textual similarity adds to its phrase tags, for papers tagging missed.
_TOPIC_SIMILARITY_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a paper was picked, in words a subscriber reads ("topic: Model merging")."""

    kind: str  # "topic", "keyword", "author", "trending" or "pinned"
    label: str

    def __str__(self) -> str:
        if self.kind in ("topic", "keyword"):
            return f"{self.kind}: {self.label}"
        if self.kind == "author":
            return f"author you follow: {self.label}"
        return self.label


@dataclass(frozen=True, slots=True)
class RankedPaper:
    """One pick for one subscriber: the paper, its score, and why."""

    paper_id: int
    score: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class CandidatePaper:
    """What ranking needs to know of a paper, as plain values."""

    paper_id: int
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    upvotes: int = 0
    growth: int = 0
    day: date | None = None
    pinned: bool = False
    topic_scores: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicProfile:
    """A topic as ranking sees it: its id, name and the phrases that describe it."""

    topic_id: int
    name: str
    phrases: tuple[str, ...]


@dataclass
class CandidateSet:
    """The candidate papers of one run, vectorised once and shared by every batch."""

    papers: list[CandidatePaper]
    topics: list[TopicProfile]
    vectorizer: TfidfVectorizer
    paper_vectors: sparse.csr_matrix  # papers x features, rows L2-normalised
    topic_paper: np.ndarray  # topics x papers: how much each paper is about each topic
    topic_vectors: sparse.csr_matrix  # topics x features
    topic_row: dict[int, int]
    author_column: dict[str, int]
    author_paper: sparse.csr_matrix  # authors x papers, 1 where the author wrote the paper
    popularity: np.ndarray  # per paper, 0-1
    pinned: np.ndarray  # per paper, bool
    paper_tags: list[frozenset[int]]  # per paper, topic ids it is tagged with

    @property
    def size(self) -> int:
        return len(self.papers)


def _analyse(document: str | tuple[tuple[str, int], ...]) -> list[str]:
    """Features of a text: stemmed words and phrases of up to three words.

    A document is a string, or (text, repeat) parts whose n-grams never cross a part border.
    """
    parts = ((document, 1),) if isinstance(document, str) else document
    features: list[str] = []
    for text, repeat in parts:
        counts = ngram_counts(content_tokens(text), max_n=_MAX_NGRAM)
        for gram, count in counts.items():
            features.extend([" ".join(gram)] * (count * repeat))
    return features


def normalise_author(name: str) -> str:
    """An author name compared without case, accents or extra spaces."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def vectorise_candidates(
    *, papers: Sequence[CandidatePaper], topics: Sequence[TopicProfile], today: date
) -> CandidateSet:
    """Vectorise the candidate papers and topics once, for every batch of a run."""
    vectorizer = TfidfVectorizer(analyzer=_analyse, sublinear_tf=True, dtype=np.float32)
    documents = [((p.title, _TITLE_REPEAT), (p.abstract, 1)) for p in papers]
    # With no candidates the vectorizer stays unfitted: ranking returns before using it.
    if papers:
        paper_vectors = vectorizer.fit_transform(documents).tocsr()
    else:
        paper_vectors = sparse.csr_matrix((0, 0), dtype=np.float32)

    topic_row = {topic.topic_id: row for row, topic in enumerate(topics)}
    if papers and topics:
        topic_vectors = vectorizer.transform(
            [tuple((phrase, 1) for phrase in topic.phrases) for topic in topics]
        ).tocsr()
        similarity = (topic_vectors @ paper_vectors.T).toarray()
    else:
        topic_vectors = sparse.csr_matrix((len(topics), paper_vectors.shape[1]), dtype=np.float32)
        similarity = np.zeros((len(topics), len(papers)), dtype=np.float32)
    tags = np.zeros((len(topics), len(papers)), dtype=np.float32)
    for column, paper in enumerate(papers):
        for topic_id, score in paper.topic_scores.items():
            if topic_id in topic_row:
                tags[topic_row[topic_id], column] = score
    topic_paper = np.minimum(tags + _TOPIC_SIMILARITY_SHARE * similarity, 1.0).astype(np.float32)

    author_column: dict[str, int] = {}
    rows, cols = [], []
    for column, paper in enumerate(papers):
        for name in {normalise_author(author) for author in paper.authors}:
            rows.append(author_column.setdefault(name, len(author_column)))
            cols.append(column)
    author_paper = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(author_column), len(papers)),
    )
    return CandidateSet(
        papers=list(papers),
        topics=list(topics),
        vectorizer=vectorizer,
        paper_vectors=paper_vectors,
        topic_paper=topic_paper,
        topic_vectors=topic_vectors,
        topic_row=topic_row,
        author_column=author_column,
        author_paper=author_paper,
        popularity=_popularity(papers, today),
        pinned=np.array([paper.pinned for paper in papers], dtype=bool),
        paper_tags=[frozenset(paper.topic_scores) for paper in papers],
    )


def _popularity(papers: Sequence[CandidatePaper], today: date) -> np.ndarray:
    """Upvotes and their recent growth, each log-scaled to 0-1, decaying with age."""
    weights = settings.RANKING
    if not papers:
        return np.zeros(0, dtype=np.float32)
    upvotes = np.log1p(np.array([max(p.upvotes, 0) for p in papers], dtype=np.float64))
    growth = np.log1p(np.array([max(p.growth, 0) for p in papers], dtype=np.float64))
    share = weights["UPVOTE_SHARE"]
    raw = share * upvotes / max(upvotes.max(), 1.0) + (1 - share) * growth / max(growth.max(), 1.0)
    age = np.array([(today - p.day).days if p.day else 30 for p in papers], dtype=np.float64)
    decay = 0.5 ** (np.clip(age, 0, None) / weights["RECENCY_HALF_LIFE_DAYS"])
    return (raw * decay).astype(np.float32)


def rank_papers_for(
    *,
    subscribers: Sequence[Interests],
    candidates: CandidateSet,
    limit: int = 10,
    already_sent: Mapping[int, Iterable[int]] | None = None,
) -> list[list[RankedPaper]]:
    """The best ``limit`` candidates for each subscriber (in order), with score and reasons.

    Hidden papers must not be among the candidates; papers matching an excluded keyword and,
    by subscriber id, papers in ``already_sent`` never appear. A paper must be relevant
    (``MIN_RELEVANCE``) or pinned to be picked, so a subscriber may get fewer than ``limit``.
    """
    if not subscribers:
        return []
    if candidates.size == 0:
        return [[] for _ in subscribers]
    weights = settings.RANKING
    batch = _BatchMatrices.build(subscribers, candidates)
    relevance = batch.relevance(candidates, weights)

    best = relevance.max(axis=1, keepdims=True)
    score = weights["RELEVANCE"] * relevance / np.maximum(best, 1e-9)
    score += weights["POPULARITY"] * candidates.popularity
    score += weights["PINNED"] * candidates.pinned
    eligible = (relevance >= weights["MIN_RELEVANCE"]) | candidates.pinned
    eligible &= ~batch.excluded(candidates)
    if already_sent:
        eligible &= ~_sent_mask(subscribers, candidates, already_sent)
    score = np.where(eligible, score, -np.inf)

    top = _top_columns(score, limit)
    return [
        [
            RankedPaper(
                paper_id=candidates.papers[column].paper_id,
                score=round(float(score[row, column]), 4),
                reasons=batch.reasons(row, column, candidates),
            )
            for column in top[row]
            if np.isfinite(score[row, column])
        ]
        for row in range(len(subscribers))
    ]


def rank_in_batches(
    *,
    subscribers: Iterable[Interests],
    candidates: CandidateSet,
    limit: int = 10,
    batch_size: int | None = None,
) -> Iterator[tuple[Interests, list[RankedPaper]]]:
    """``rank_papers_for`` over any number of subscribers, a batch at a time, lazily."""
    size = batch_size or settings.RANKING["SUBSCRIBER_BATCH_SIZE"]
    batch: list[Interests] = []
    for interests in subscribers:
        batch.append(interests)
        if len(batch) == size:
            yield from zip(
                batch,
                rank_papers_for(subscribers=batch, candidates=candidates, limit=limit),
                strict=True,
            )
            batch = []
    if batch:
        yield from zip(
            batch,
            rank_papers_for(subscribers=batch, candidates=candidates, limit=limit),
            strict=True,
        )


def _top_columns(score: np.ndarray, limit: int) -> np.ndarray:
    """Per row, the columns of the ``limit`` highest scores, best first."""
    limit = min(limit, score.shape[1])
    if limit == 0:
        return np.zeros((score.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-score, limit - 1, axis=1)[:, :limit]
    order = np.argsort(-np.take_along_axis(score, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _sent_mask(
    subscribers: Sequence[Interests],
    candidates: CandidateSet,
    already_sent: Mapping[int, Iterable[int]],
) -> np.ndarray:
    column = {paper.paper_id: index for index, paper in enumerate(candidates.papers)}
    mask = np.zeros((len(subscribers), candidates.size), dtype=bool)
    for row, interests in enumerate(subscribers):
        if interests.subscriber_id is None:
            continue
        columns = [column[p] for p in already_sent.get(interests.subscriber_id, ()) if p in column]
        mask[row, columns] = True
    return mask


def _indicator(rows: list[list[int]], width: int) -> sparse.csr_matrix:
    """A 0/1 sparse matrix with a 1 at (i, j) for each j in rows[i]."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.fromiter((j for r in rows for j in r), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width))


@dataclass
class _BatchMatrices:
    """One batch of subscribers turned into sparse indicator matrices over shared vocabularies."""

    subscribers: Sequence[Interests]
    keywords: list[str]
    keyword_rows: list[list[int]]
    subscriber_keywords: sparse.csr_matrix  # subscribers x keywords
    keyword_paper: np.ndarray  # keywords x papers: direct text similarity
    keyword_topics: np.ndarray  # keywords x topics: expansion weights
    subscriber_topics: sparse.csr_matrix  # subscribers x topics
    subscriber_authors: sparse.csr_matrix  # subscribers x authors
    exclusions: list[str]
    subscriber_exclusions: sparse.csr_matrix  # subscribers x excluded phrases

    @classmethod
    def build(cls, subscribers: Sequence[Interests], candidates: CandidateSet) -> _BatchMatrices:
        keyword_index: dict[str, int] = {}
        exclusion_index: dict[str, int] = {}
        keyword_rows, topic_rows, author_rows, exclusion_rows = [], [], [], []
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
            author_rows.append(
                [
                    candidates.author_column[name]
                    for name in map(normalise_author, interests.authors)
                    if name in candidates.author_column
                ]
            )
            exclusion_rows.append(
                [
                    exclusion_index.setdefault(e.casefold(), len(exclusion_index))
                    for e in interests.excluded
                ]
            )
        keywords = list(keyword_index)
        if keywords:
            query = candidates.vectorizer.transform(keywords)
            keyword_paper = (query @ candidates.paper_vectors.T).toarray()
            similarity = (query @ candidates.topic_vectors.T).toarray()
            keyword_topics = np.where(similarity >= _EXPANSION_MIN_SIMILARITY, similarity, 0.0)
        else:
            keyword_paper = np.zeros((0, candidates.size), dtype=np.float32)
            keyword_topics = np.zeros((0, len(candidates.topics)), dtype=np.float32)
        return cls(
            subscribers=subscribers,
            keywords=keywords,
            keyword_rows=keyword_rows,
            subscriber_keywords=_indicator(keyword_rows, len(keywords)),
            keyword_paper=keyword_paper.astype(np.float32),
            keyword_topics=keyword_topics.astype(np.float32),
            subscriber_topics=_indicator(topic_rows, len(candidates.topics)),
            subscriber_authors=_indicator(author_rows, len(candidates.author_column)),
            exclusions=list(exclusion_index),
            subscriber_exclusions=_indicator(exclusion_rows, len(exclusion_index)),
        )

    def relevance(self, candidates: CandidateSet, weights: Mapping[str, float]) -> np.ndarray:
        """Subscribers x papers: how well each paper matches each subscriber's interests."""
        per_keyword = self.keyword_paper + weights["KEYWORD_TOPIC_EXPANSION"] * (
            self.keyword_topics @ candidates.topic_paper
        )
        relevance = weights["KEYWORD"] * (self.subscriber_keywords @ per_keyword)
        relevance += weights["TOPIC"] * (self.subscriber_topics @ candidates.topic_paper)
        if self.subscriber_authors.nnz:
            relevance += (
                weights["AUTHOR"] * (self.subscriber_authors @ candidates.author_paper).toarray()
            )
        return np.asarray(relevance, dtype=np.float32)

    def excluded(self, candidates: CandidateSet) -> np.ndarray:
        """Subscribers x papers: True where the paper mentions a phrase the subscriber excluded."""
        if not self.exclusions:
            return np.zeros((len(self.subscribers), candidates.size), dtype=bool)
        mentions = sparse.csr_matrix(
            np.vstack([_mentions(phrase, candidates) for phrase in self.exclusions])
        )
        return (self.subscriber_exclusions @ mentions).toarray() > 0

    def reasons(self, row: int, column: int, candidates: CandidateSet) -> tuple[Reason, ...]:
        """Why paper ``column`` was picked for subscriber ``row``, strongest reason first."""
        interests = self.subscribers[row]
        paper = candidates.papers[column]
        found: list[Reason] = []
        topic_names = {t.topic_id: t.name for t in candidates.topics}
        matched_topics = sorted(
            (t for t in interests.topic_ids if t in candidates.paper_tags[column]),
            key=lambda t: -paper.topic_scores.get(t, 0.0),
        )
        found.extend(Reason("topic", topic_names[t]) for t in matched_topics if t in topic_names)
        minimum = settings.RANKING["KEYWORD_REASON_MIN"]
        for keyword, index in zip(interests.keywords, self.keyword_rows[row], strict=True):
            direct = self.keyword_paper[index, column]
            expanded = float(self.keyword_topics[index] @ candidates.topic_paper[:, column])
            if max(direct, expanded) >= minimum:
                found.append(Reason("keyword", keyword))
        if interests.authors:
            written_by = {normalise_author(name): name for name in paper.authors}
            found.extend(
                Reason("author", written_by[normalise_author(name)])
                for name in interests.authors
                if normalise_author(name) in written_by
            )
        if paper.upvotes >= settings.RANKING["TRENDING_MIN_UPVOTES"]:
            growth = f", +{paper.growth} today" if paper.growth > 0 else ""
            found.append(Reason("trending", f"{paper.upvotes} upvotes, trending{growth}"))
        if paper.pinned:
            found.append(Reason("pinned", "editors' pick"))
        return tuple(found)


def _mentions(phrase: str, candidates: CandidateSet) -> np.ndarray:
    """Per paper, whether its title or abstract contains ``phrase`` (stemmed, in order)."""
    tokens = content_tokens(phrase)
    vocabulary = candidates.vectorizer.vocabulary_
    if not tokens:
        return np.zeros(candidates.size, dtype=np.float32)
    # Long phrases are checked as overlapping three-word pieces, all of which must occur.
    pieces = [
        " ".join(tokens[start : start + _MAX_NGRAM])
        for start in range(max(1, len(tokens) - _MAX_NGRAM + 1))
    ]
    present = np.ones(candidates.size, dtype=bool)
    for piece in pieces:
        if piece not in vocabulary:
            return np.zeros(candidates.size, dtype=np.float32)
        present &= candidates.paper_vectors[:, vocabulary[piece]].toarray().ravel() > 0
    return present.astype(np.float32)


# --- Reading candidates and topics from the database -------------------------------------


def topic_profiles() -> list[TopicProfile]:
    """Every topic with its name, description and keywords as matching phrases."""
    return [
        TopicProfile(topic.pk, topic.name, (topic.name, *topic.keywords))
        for topic in Topic.objects.order_by("pk")
    ]


def candidate_papers(
    *, papers: QuerySet[Paper], now: datetime | None = None
) -> list[CandidatePaper]:
    """The given papers (hidden ones dropped) as ranking candidates, in three queries.

    Growth is the rise in upvotes over the last ``GROWTH_WINDOW_HOURS``, read from the
    upvote history.
    """
    now = now or timezone.now()
    rows = list(
        papers.filter(hidden=False).values_list(
            "pk", "title", "abstract", "authors", "upvotes", "featured_on", "published_on", "pinned"
        )
    )
    ids = [row[0] for row in rows]
    tags: dict[int, dict[int, float]] = {}
    for paper_id, topic_id, score, origin in (
        PaperTopic.objects.filter(paper_id__in=ids)
        .exclude(origin=PaperTopic.Origin.REMOVED)
        .values_list("paper_id", "topic_id", "score", "origin")
    ):
        tags.setdefault(paper_id, {})[topic_id] = (
            1.0 if origin == PaperTopic.Origin.ADDED else score
        )
    window_start = now - timedelta(hours=settings.RANKING["GROWTH_WINDOW_HOURS"])
    baseline: dict[int, int] = {}
    # The last count seen before the window opened is the baseline growth is measured from.
    for paper_id, upvotes in (
        UpvoteObservation.objects.filter(paper_id__in=ids, observed_at__lt=window_start)
        .order_by("paper_id", "observed_at")
        .values_list("paper_id", "upvotes")
    ):
        baseline[paper_id] = upvotes
    return [
        CandidatePaper(
            paper_id=pk,
            title=title,
            abstract=abstract,
            authors=tuple(authors or ()),
            upvotes=upvotes,
            # First seen inside the window: every upvote it has is recent.
            growth=upvotes - baseline.get(pk, 0),
            day=featured_on or published_on,
            pinned=pinned,
            topic_scores=tags.get(pk, {}),
        )
        for pk, title, abstract, authors, upvotes, featured_on, published_on, pinned in rows
    ]
