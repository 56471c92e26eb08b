"""The candidate papers of a ranking run, read once and vectorised once.

Everything per paper that ranking needs (text vectors, topic strengths, authors, popularity,
the reasons that do not depend on the subscriber) is computed here, so scoring a batch of
subscribers is only matrix products and look-ups.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from functools import cached_property
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from scipy import sparse

from papers.embeddings import DIMENSIONS, model_id, paper_vector, phrase_vectors
from papers.models import Paper, PaperTopic, Topic
from papers.selectors import with_growth
from papers.text import content_tokens, paper_tokens
from subscriptions.matching.lexical import BM25Index, LexicalQuery
from subscriptions.matching.vectorizer import MAX_NGRAM, PhraseVectorizer

_TITLE_REPEAT = 2
# How much a topic's textual similarity adds to its phrase tags, for papers tagging missed.
_TOPIC_SIMILARITY_SHARE = 0.5
# Why a keyword is a reason for a paper: its words are in it, or it is about the same.
REASON_WORDS, REASON_RELATED = 1, 2
# Keyword rows kept between batches; popular keywords repeat, rare ones are not worth memory.
_KEYWORD_CACHE_SIZE = 4096
# (interest, paper) pairs whose matched words are kept for the run.
_MATCHED_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a paper was picked, in words a subscriber reads ("topic: Model merging")."""

    kind: str  # "topic", "keyword", "related", "author", "liked", "trending" or "pinned"
    label: str

    def __str__(self) -> str:
        if self.kind == "topic":
            return f"topic: {self.label}"
        if self.kind == "keyword":  # the words and phrases of an interest the paper holds
            return f"matches: {self.label}"
        if self.kind == "related":  # an interest that names a topic the paper is about
            return f"related to: {self.label}"
        if self.kind == "liked":
            return f"like “{self.label}” you liked"
        if self.kind == "author":
            return f"author you follow: {self.label}"
        return self.label


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
    # When a listing brought it (``Paper.arrived_at``): new to readers whose last digest is older.
    arrived: datetime | None = None
    pinned: bool = False
    topic_scores: Mapping[int, float] = field(default_factory=dict)
    terms: str = ""  # Paper.terms: the title and abstract analysed, if stored
    embedding: np.ndarray | None = None  # the title and abstract's sentence embedding

    def tokens(self) -> tuple[list[str], list[str]]:
        """The content tokens of the title and of the abstract."""
        return paper_tokens(self.title, self.abstract, self.terms)


@dataclass(frozen=True, slots=True)
class TopicProfile:
    """A topic as ranking sees it: its id, name and the phrases that describe it."""

    topic_id: int
    name: str
    phrases: tuple[str, ...]


@dataclass
class CandidateSet:
    """The candidate papers of one run, vectorised once and shared by every batch.

    The ranking weights are read once, when the set is built, so one run uses one set of them.
    """

    papers: list[CandidatePaper]
    topics: list[TopicProfile]
    weights: dict[str, Any]
    vectorizer: PhraseVectorizer
    paper_vectors: sparse.csr_matrix  # papers x features, rows L2-normalised
    lexical: BM25Index  # BM25 weights of the papers' words and phrases
    embeddings: np.ndarray  # papers x dimensions, unit rows (zero rows: none stored)
    has_embedding: np.ndarray  # per paper, bool
    topic_vectors: sparse.csr_matrix  # topics x features
    topic_paper: np.ndarray  # topics x papers: how much each paper is about each topic
    topic_row: dict[int, int]
    topic_reason: dict[int, Reason]
    author_column: dict[str, int]
    author_paper: sparse.csr_matrix  # authors x papers, 1 where the author wrote the paper
    popularity: np.ndarray  # per paper, 0-1
    pinned: np.ndarray  # per paper, bool
    paper_ids: list[int]
    days: np.ndarray  # per paper, the date ordinal of its day (0 when unknown)
    arrivals: np.ndarray  # per paper, when it arrived, in POSIX seconds (0 when unknown)
    paper_topics: list[tuple[int, ...]]  # per paper, tagged topic ids, strongest first
    paper_authors: list[dict[str, str]]  # per paper, normalised author name -> as written
    paper_reasons: list[tuple[Reason, ...]]  # per paper, reasons true for every subscriber
    # Where interests' embeddings come from (stored ones; a benchmark may give its own).
    phrase_vectors: Callable[[Sequence[str]], np.ndarray | None] = phrase_vectors
    keyword_cache: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    query_cache: dict[str, LexicalQuery] = field(default_factory=dict)
    presence_cache: dict[str, np.ndarray] = field(default_factory=dict)
    matched_cache: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    mention_cache: dict[str, np.ndarray] = field(default_factory=dict)
    likeness_cache: dict[int, np.ndarray] = field(default_factory=dict)

    def with_own_caches(self, **changes: Any) -> CandidateSet:
        """A copy, with ``changes``, whose caches start empty and go with it: what it works
        out is never kept in this set's."""
        empty: dict[str, Any] = {f.name: {} for f in fields(self) if f.name.endswith("_cache")}
        return replace(self, **empty, **changes)

    @property
    def size(self) -> int:
        return len(self.papers)

    @cached_property
    def paper_features(self) -> sparse.csc_matrix:
        """``paper_vectors`` by column, to find the papers with a feature: made the first
        time a subscriber's excluded phrase is looked for, which may be never."""
        return self.paper_vectors.tocsc()

    def keyword_rows(self, keywords: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """For lower-cased keywords: (relevance, reason) rows over the papers.

        Relevance is the keyword's BM25 relevance to each paper (``lexical``: its words and
        phrases, 1.0 for all of it) plus, at the expansion weight, how much the paper is about
        topics the keyword names ("face recognition" -> Face analysis). A keyword is a reason
        for a paper when either part alone is strong enough: ``REASON_WORDS`` when its own
        words match well enough to be named, else ``REASON_RELATED`` when its meaning or its
        topics do (0: not a reason).
        """
        missing = [k for k in dict.fromkeys(keywords) if k not in self.keyword_cache]
        fresh: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if missing:
            query = self.vectorizer.transform(missing)
            lexical = self.lexical.relevance([self.lexical_query(k) for k in missing])
            semantic = self._semantic_rows(missing)
            direct = self._mix(lexical, semantic)
            similarity = (query @ self.topic_vectors.T).toarray()
            names_topic = np.where(
                similarity >= self.weights["EXPANSION_MIN_SIMILARITY"], similarity, 0.0
            )
            expanded = names_topic @ self.topic_paper
            relevance = (
                self.weights["LEXICAL_SCALE"] * direct
                + self.weights["KEYWORD_TOPIC_EXPANSION"] * expanded
            ).astype(np.float32)
            by_words = lexical >= self.weights["KEYWORD_REASON_MIN"]
            by_meaning = (expanded >= self.weights["TOPIC_REASON_MIN"]) | (
                semantic >= self.weights["SEMANTIC_REASON_MIN"]
            )
            is_reason = np.where(
                by_words, REASON_WORDS, np.where(by_meaning, REASON_RELATED, 0)
            ).astype(np.int8)
            for index, keyword in enumerate(missing):
                fresh[keyword] = (relevance[index], is_reason[index])
                if len(self.keyword_cache) < _KEYWORD_CACHE_SIZE:
                    self.keyword_cache[keyword] = fresh[keyword]
        rows = [self.keyword_cache.get(k) or fresh[k] for k in keywords]
        if not rows:
            empty = np.zeros((0, self.size), dtype=np.float32)
            return empty, empty.astype(np.int8)
        return np.vstack([r for r, _ in rows]), np.vstack([b for _, b in rows])

    def _semantic_rows(self, keywords: Sequence[str]) -> np.ndarray:
        """Keywords x papers: cosine of keyword and paper, mapped from [floor, ceiling] to
        [0, 1] (below the floor, unrelated, 0). Zero where either has no vector."""
        zero = np.zeros((len(keywords), self.size), dtype=np.float32)
        if not self.has_embedding.any():
            return zero
        vectors = self.phrase_vectors(keywords)
        if vectors is None:
            return zero
        floor, ceiling = self.weights["SEMANTIC_FLOOR"], self.weights["SEMANTIC_CEILING"]
        cosine = vectors @ self.embeddings.T
        return np.clip((cosine - floor) / (ceiling - floor), 0.0, 1.0).astype(np.float32)

    def _mix(self, lexical: np.ndarray, semantic: np.ndarray) -> np.ndarray:
        """Lexical and semantic relevance mixed where a paper has a vector, lexical alone
        elsewhere (so a paper not embedded yet is not behind the others)."""
        share = self.weights["SEMANTIC_SHARE"]
        mixed = (1 - share) * lexical + share * semantic
        return np.where(self.has_embedding[None, :], mixed, lexical).astype(np.float32)

    def lexical_query(self, keyword: str) -> LexicalQuery:
        """The keyword taken apart into words and phrases (kept for the run)."""
        query = self.query_cache.get(keyword)
        if query is None:
            query = self.query_cache[keyword] = self.lexical.query(keyword)
        return query

    def matched_words(self, keyword: str, column: int) -> list[str]:
        """The words and phrases of ``keyword`` that the paper in ``column`` holds, as typed."""
        # Popular interests meet the same papers for reader after reader: named once a run.
        known = self.matched_cache.get((keyword, column))
        if known is not None:
            return known
        query = self.lexical_query(keyword)
        presence = self.presence_cache.get(keyword)
        if presence is None:
            presence = self.lexical.presence(query)
            if len(self.presence_cache) < _KEYWORD_CACHE_SIZE:
                self.presence_cache[keyword] = presence
        words = self.lexical.matched_words(query, presence, column)
        if len(self.matched_cache) < _MATCHED_CACHE_SIZE:
            self.matched_cache[(keyword, column)] = words
        return words

    def likeness(self, papers: Mapping[int, Any], paper_ids: Sequence[int]) -> np.ndarray:
        """Rows of similarity between each given paper and every candidate: their embeddings'
        cosine (mapped as interests' are) where both have one, else TF-IDF of the texts.

        ``papers`` maps a paper id to its ``profile.FeedbackPaper`` (title, abstract, vector);
        ids not in it give zero rows.
        """
        missing = [p for p in dict.fromkeys(paper_ids) if p not in self.likeness_cache]
        known = [p for p in missing if p in papers]
        fresh: dict[int, np.ndarray] = {}
        if known:
            vectors = self.vectorizer.transform(
                [((papers[p].title, _TITLE_REPEAT), (papers[p].abstract, 1)) for p in known]
            )
            rows = (vectors @ self.paper_vectors.T).toarray().astype(np.float32)
            with_vector = [i for i, p in enumerate(known) if papers[p].vector is not None]
            if with_vector and self.has_embedding.any():
                floor, ceiling = self.weights["SEMANTIC_FLOOR"], self.weights["SEMANTIC_CEILING"]
                stacked = np.vstack([papers[known[i]].vector for i in with_vector])
                cosine = stacked @ self.embeddings.T
                semantic = np.clip((cosine - floor) / (ceiling - floor), 0.0, 1.0)
                rows[with_vector] = np.where(
                    self.has_embedding[None, :], semantic, rows[with_vector]
                )
            for paper_id, row in zip(known, rows, strict=True):
                fresh[paper_id] = row
                if len(self.likeness_cache) < _KEYWORD_CACHE_SIZE:  # bounded, as the others
                    self.likeness_cache[paper_id] = row
        zero = np.zeros(self.size, dtype=np.float32)
        if not paper_ids:
            return np.zeros((0, self.size), dtype=np.float32)
        cached = self.likeness_cache
        return np.vstack([cached[p] if p in cached else fresh.get(p, zero) for p in paper_ids])

    def mentions(self, phrase: str) -> np.ndarray:
        """Per paper, whether its title or abstract contains ``phrase`` (stemmed, in order)."""
        if phrase not in self.mention_cache:
            self.mention_cache[phrase] = self._find_mentions(phrase)
        return self.mention_cache[phrase]

    def _find_mentions(self, phrase: str) -> np.ndarray:
        tokens = content_tokens(phrase)
        present = np.zeros(self.size, dtype=bool)
        if not tokens:
            return present
        # A long phrase is checked as overlapping three-word pieces, which must all occur.
        columns = [
            self.vectorizer.column(tokens[start : start + MAX_NGRAM])
            for start in range(max(1, len(tokens) - MAX_NGRAM + 1))
        ]
        if None in columns:
            return present
        present[:] = True
        for column in columns:
            has_piece = np.zeros(self.size, dtype=bool)
            has_piece[self.paper_features[:, column].indices] = True
            present &= has_piece
        return present


def normalise_author(name: str) -> str:
    """An author name compared without case, accents or extra spaces."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def vectorise_candidates(
    *,
    papers: Sequence[CandidatePaper],
    topics: Sequence[TopicProfile],
    today: date,
    growth_span: str = "in 24 h",
) -> CandidateSet:
    """Vectorise the candidate papers and topics once, for every batch of a run.

    ``growth_span`` says over what the papers' ``growth`` was measured, as reasons say it
    ("+12 in 24 h").
    """
    weights = dict(settings.RANKING)
    vectorizer = PhraseVectorizer()
    # With no candidates the vectorizer stays unfitted: ranking returns before using it.
    if papers:
        documents = [
            ((title, _TITLE_REPEAT), (abstract, 1))
            for title, abstract in (paper.tokens() for paper in papers)
        ]
        paper_vectors, counts = vectorizer.fit_counts(documents)
        paper_vectors = paper_vectors.tocsr()
    else:
        paper_vectors = counts = sparse.csr_matrix((0, 0), dtype=np.float32)
    lexical = BM25Index.build(
        vectorizer=vectorizer,
        counts=counts,
        lengths=vectorizer.word_counts(counts) if papers else np.zeros(0, dtype=np.float32),
        phrase_bonus=weights["PHRASE_BONUS"],
    )
    if papers and topics:
        topic_vectors = vectorizer.transform(
            [tuple((phrase, 1) for phrase in topic.phrases) for topic in topics]
        ).tocsr()
    else:
        topic_vectors = sparse.csr_matrix((len(topics), paper_vectors.shape[1]), dtype=np.float32)

    topic_row = {topic.topic_id: row for row, topic in enumerate(topics)}
    tags = np.zeros((len(topics), len(papers)), dtype=np.float32)
    for column, paper in enumerate(papers):
        for topic_id, score in paper.topic_scores.items():
            if topic_id in topic_row:
                tags[topic_row[topic_id], column] = score
    similarity = (topic_vectors @ paper_vectors.T).toarray()
    topic_paper = np.minimum(tags + _TOPIC_SIMILARITY_SHARE * similarity, 1.0).astype(np.float32)

    embeddings = np.zeros((len(papers), DIMENSIONS), dtype=np.float32)
    has_embedding = np.zeros(len(papers), dtype=bool)
    for row, paper in enumerate(papers):
        if paper.embedding is not None:
            embeddings[row] = paper.embedding
            has_embedding[row] = True

    paper_authors = [{normalise_author(name): name for name in p.authors} for p in papers]
    author_column: dict[str, int] = {}
    rows, cols = [], []
    for column, names in enumerate(paper_authors):
        for name in names:
            rows.append(author_column.setdefault(name, len(author_column)))
            cols.append(column)
    author_paper = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(author_column), len(papers)),
    )
    return CandidateSet(
        papers=list(papers),
        topics=list(topics),
        weights=weights,
        vectorizer=vectorizer,
        paper_vectors=paper_vectors,
        lexical=lexical,
        embeddings=embeddings,
        has_embedding=has_embedding,
        topic_vectors=topic_vectors,
        topic_paper=topic_paper,
        topic_row=topic_row,
        topic_reason={t.topic_id: Reason("topic", t.name) for t in topics},
        author_column=author_column,
        author_paper=author_paper,
        popularity=_popularity(papers, today, weights),
        pinned=np.array([paper.pinned for paper in papers], dtype=bool),
        paper_ids=[paper.paper_id for paper in papers],
        days=np.array([p.day.toordinal() if p.day else 0 for p in papers], dtype=np.int64),
        arrivals=np.array(
            [p.arrived.timestamp() if p.arrived else 0.0 for p in papers], dtype=np.float64
        ),
        paper_topics=[
            tuple(sorted(p.topic_scores, key=lambda t: -p.topic_scores[t])) for p in papers
        ],
        paper_authors=paper_authors,
        paper_reasons=[_paper_reasons(paper, weights, growth_span) for paper in papers],
    )


def _paper_reasons(
    paper: CandidatePaper, weights: Mapping[str, Any], growth_span: str
) -> tuple[Reason, ...]:
    reasons = []
    if paper.upvotes >= weights["TRENDING_MIN_UPVOTES"]:
        # Growth is only ever what observations showed: a paper seen once shows none.
        growth = f", +{paper.growth} {growth_span}" if paper.growth > 0 else ""
        reasons.append(Reason("trending", f"{paper.upvotes} upvotes{growth}"))
    if paper.pinned:
        reasons.append(Reason("pinned", "editors' pick"))
    return tuple(reasons)


def _popularity(
    papers: Sequence[CandidatePaper], today: date, weights: Mapping[str, Any]
) -> np.ndarray:
    """Upvotes and their recent growth, each log-scaled to 0-1, decaying with age."""
    if not papers:
        return np.zeros(0, dtype=np.float32)
    upvotes = np.log1p(np.array([max(p.upvotes, 0) for p in papers], dtype=np.float64))
    growth = np.log1p(np.array([max(p.growth, 0) for p in papers], dtype=np.float64))
    share = weights["UPVOTE_SHARE"]
    raw = share * upvotes / max(upvotes.max(), 1.0) + (1 - share) * growth / max(growth.max(), 1.0)
    age = np.array([(today - p.day).days if p.day else 30 for p in papers], dtype=np.float64)
    decay = 0.5 ** (np.clip(age, 0, None) / weights["RECENCY_HALF_LIFE_DAYS"])
    return (raw * decay).astype(np.float32)


# --- Reading candidates and topics from the database -------------------------------------


def topic_profiles() -> list[TopicProfile]:
    """Every topic with its name and keywords as matching phrases."""
    return [
        TopicProfile(topic.pk, topic.name, (topic.name, *topic.keywords))
        for topic in Topic.objects.order_by("pk")
    ]


def candidate_papers(
    *, papers: QuerySet[Paper], now: datetime | None = None, hours: float | None = None
) -> list[CandidatePaper]:
    """The given papers (hidden ones dropped) as ranking candidates, in two queries.

    Growth is the rise in upvotes observed over the ``hours`` (default
    ``GROWTH_WINDOW_HOURS``) up to ``now`` (``papers.selectors.with_growth``): none for a
    paper observed only once.
    """
    visible = papers.filter(hidden=False)
    hours = hours or settings.RANKING["GROWTH_WINDOW_HOURS"]
    # Named before list() reads it: inside the call, django-stubs makes its row type twice
    # and then finds the two different.
    values = with_growth(visible, hours=hours, now=now).values_list(
        "pk",
        "title",
        "abstract",
        "authors",
        "upvotes",
        "growth",
        "featured_on",
        "published_on",
        "pinned",
        "terms",
        "embedding",
        "embedding_key",
        "arrived_at",
        named=True,
    )
    rows = list(values)
    model = model_id()
    # A subquery rather than a list of ids: no limit on how many candidates there are.
    ids = visible.values("pk")
    tags: dict[int, dict[int, float]] = {}
    for paper_id, topic_id, score, origin in (
        PaperTopic.objects.filter(paper_id__in=ids)
        .exclude(origin=PaperTopic.Origin.REMOVED)
        .values_list("paper_id", "topic_id", "score", "origin")
    ):
        strength = 1.0 if origin == PaperTopic.Origin.ADDED else score
        tags.setdefault(paper_id, {})[topic_id] = strength
    return [
        CandidatePaper(
            paper_id=row.pk,
            title=row.title,
            abstract=row.abstract,
            authors=tuple(row.authors or ()),
            upvotes=row.upvotes,
            growth=row.growth,
            day=row.featured_on or row.published_on,
            arrived=row.arrived_at,
            pinned=row.pinned,
            topic_scores=tags.get(row.pk, {}),
            terms=row.terms,
            embedding=paper_vector(
                title=row.title,
                abstract=row.abstract,
                embedding=row.embedding,
                key=row.embedding_key,
                model=model,
            ),
        )
        for row in rows
    ]
