"""Lexical relevance of an interest taken apart: BM25 over its words and the phrases they make.

An interest such as "prompt injection attacks on LLM agents" is not one exact keyword. Its
content words ("prompt", "injection", "attacks", "LLM", "agents", stemmed) each count with
their BM25 weight in a paper (idf over the run's candidates, term frequency saturated and
normalised by the paper's length), and words that stand together in the interest ("prompt
injection", "LLM agents") add a phrase bonus where they stand together in the paper too. So a
paper that matches part of an interest scores in proportion to what it matches. Phrases never
cross punctuation or "and"/"or" in the interest: "retrievers and rerankers, chunking" makes no
phrase "rerankers chunking".

A paper's score is divided by what a paper of average length holding every word and phrase of
the interest once would score, so 1.0 is "all of it", for short and long interests alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from papers.text import content_tokens
from subscriptions.matching.vectorizer import MAX_NGRAM, PhraseVectorizer

# Okapi BM25's usual constants.
K1 = 1.2
B = 0.75
# Where an interest's phrases stop: punctuation, a dash between spaces, "and", "or".
_SEGMENT_BREAK = re.compile(
    '[,;:.!?()\\[\\]{}<>/|"\u201c\u201d\u2018\u2019]|\\s[-\u2013\u2014]+\\s|\\b(?:and|or|AND|OR)\\b'
)
_WORD = re.compile("[^\\W_]+(?:[-'\u2019][^\\W_]+)*")


@dataclass(frozen=True, slots=True)
class QueryWord:
    """One content word of an interest: its stem and the words typed for it."""

    stem: str
    typed: str


def interest_segments(phrase: str) -> list[list[QueryWord]]:
    """The runs of content words an interest's phrases are made of, as typed.

    A hyphenated word ("text-to-speech") is kept whole as typed, with one stem per part.
    """
    segments = []
    for piece in _SEGMENT_BREAK.split(phrase):
        words = [
            QueryWord(stem, match.group())
            for match in _WORD.finditer(piece)
            for stem in content_tokens(match.group())
        ]
        if words:
            segments.append(words)
    return segments


@dataclass(frozen=True)
class QueryFeature:
    """A word or a phrase of an interest, as a column of the candidates' features."""

    column: int | None  # None: no candidate has it
    weight: float  # 1 for a word, the phrase bonus for a phrase
    words: tuple[int, ...]  # positions in the interest's flattened words


@dataclass(frozen=True)
class LexicalQuery:
    """An interest as weighted features, and what they are in the typed words."""

    words: tuple[QueryWord, ...]
    features: tuple[QueryFeature, ...]


@dataclass
class BM25Index:
    """BM25 weights of every candidate's features (papers x features), and their idf."""

    vectorizer: PhraseVectorizer
    weights: sparse.csr_matrix  # papers x features: idf * saturated, length-normalised tf
    idf: np.ndarray  # per feature
    unseen_idf: float  # the idf given to a word or phrase no candidate has
    phrase_bonus: float

    @classmethod
    def build(
        cls,
        *,
        vectorizer: PhraseVectorizer,
        counts: sparse.csr_matrix,
        lengths: np.ndarray,
        phrase_bonus: float,
    ) -> BM25Index:
        """The index of the candidates' raw feature ``counts`` (papers x features, fitted by
        ``vectorizer``), with each paper's length in words."""
        papers = counts.shape[0]
        present = counts.copy()
        present.data[:] = 1
        df = np.asarray(present.sum(axis=0)).ravel()
        idf = np.log1p((papers - df + 0.5) / (df + 0.5)).astype(np.float32)
        average = float(lengths.mean()) if papers else 1.0
        norm = K1 * (1 - B + B * lengths / max(average, 1e-9))
        weights = counts.tocsr(copy=True).astype(np.float32)
        row_of_entry = np.repeat(np.arange(papers), np.diff(weights.indptr))
        tf = weights.data
        weights.data = (
            idf[weights.indices] * tf * (K1 + 1) / (tf + norm[row_of_entry].astype(np.float32))
        ).astype(np.float32)
        return cls(
            vectorizer=vectorizer,
            weights=weights,
            idf=idf,
            # As rare as the rarest word the candidates have (df 1): a word no candidate has
            # still counts in what "all of the interest" is, but not as more than any.
            unseen_idf=float(np.log1p((papers - 0.5) / 1.5)),
            phrase_bonus=phrase_bonus,
        )

    def query(self, phrase: str) -> LexicalQuery:
        """``phrase`` taken apart into its words and the phrases they make (up to three)."""
        segments = interest_segments(phrase)
        words: list[QueryWord] = []
        features: dict[tuple[str, ...], QueryFeature] = {}
        for segment in segments:
            start = len(words)
            words.extend(segment)
            for n in range(1, MAX_NGRAM + 1):
                for offset in range(len(segment) - n + 1):
                    stems = tuple(word.stem for word in segment[offset : offset + n])
                    if len(set(stems)) < n:  # "learning to learn": no phrase of one word
                        continue
                    positions = tuple(range(start + offset, start + offset + n))
                    if stems in features:
                        continue
                    features[stems] = QueryFeature(
                        column=self.vectorizer.column(stems),
                        weight=1.0 if n == 1 else self.phrase_bonus,
                        words=positions,
                    )
        return LexicalQuery(words=tuple(words), features=tuple(features.values()))

    def relevance(self, queries: Sequence[LexicalQuery]) -> np.ndarray:
        """Queries x papers: each query's BM25 score in each paper, 1.0 for all of it once."""
        columns, rows, data, ideal = [], [], [], np.zeros(len(queries), dtype=np.float64)
        for row, query in enumerate(queries):
            for feature in query.features:
                idf = self.unseen_idf if feature.column is None else self.idf[feature.column]
                ideal[row] += feature.weight * idf
                if feature.column is not None:
                    rows.append(row)
                    columns.append(feature.column)
                    data.append(feature.weight)
        matrix = sparse.csr_matrix(
            (np.array(data, dtype=np.float32), (rows, columns)),
            shape=(len(queries), self.weights.shape[1]),
        )
        scores = (matrix @ self.weights.T).toarray() / np.maximum(ideal, 1e-9)[:, None]
        return scores.astype(np.float32)

    @cached_property
    def _by_feature(self) -> sparse.csc_matrix:
        return self.weights.tocsc()

    def presence(self, query: LexicalQuery) -> np.ndarray:
        """Features of ``query`` x papers: True where the paper has the feature. Made once
        per interest and run (the reasons of every pick read it), not once per pick."""
        present = np.zeros((len(query.features), self.weights.shape[0]), dtype=bool)
        by_feature = self._by_feature
        for row, feature in enumerate(query.features):
            if feature.column is not None:
                start, end = by_feature.indptr[feature.column : feature.column + 2]
                present[row, by_feature.indices[start:end]] = True
        return present

    def matched_words(self, query: LexicalQuery, presence: np.ndarray, paper: int) -> list[str]:
        """What of ``query`` paper number ``paper`` holds, as typed (``presence`` is the
        query's): its phrases that stand together in the paper, and the words matched on their
        own, in the interest's order."""
        has = presence[:, paper]
        covered: list[tuple[int, ...]] = []
        order = sorted(range(len(query.features)), key=lambda i: -len(query.features[i].words))
        for index in order:
            feature = query.features[index]
            if not has[index]:
                continue
            if any(set(feature.words) <= set(span) for span in covered):
                continue
            covered.append(feature.words)
        # Overlapping phrases ("large language", "language models") join into one run.
        covered.sort()
        runs: list[list[int]] = []
        for span in covered:
            if runs and span[0] <= runs[-1][-1]:
                runs[-1].extend(p for p in span if p > runs[-1][-1])
            else:
                runs.append(list(span))
        labels: list[str] = []
        for run in runs:
            typed = " ".join(dict.fromkeys(query.words[p].typed for p in run))
            if typed not in labels:
                labels.append(typed)
        return labels
