"""TF-IDF vectors of stemmed words and phrases, counted as numbers (see ``PhraseVectorizer``)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer

from papers.text import content_tokens

# The longest phrase that is a feature of its own; longer ones are matched as pieces.
MAX_NGRAM = 3


def _parts(document: Any) -> tuple[tuple[list[str], int], ...]:
    """A document as (content tokens, repeat) parts. A document is a text, or (text, repeat)
    parts whose phrases never cross a part border; a part's text may be its tokens already."""
    parts = ((document, 1),) if isinstance(document, str) else document
    return tuple(
        (text if isinstance(text, list) else content_tokens(text), repeat) for text, repeat in parts
    )


class PhraseVectorizer:
    """TF-IDF vectors of documents' features: their stemmed words and phrases of up to
    ``MAX_NGRAM`` words, never across a part's border, each counted as often as it occurs
    times its part's repeat. It gives what scikit-learn's ``TfidfVectorizer(sublinear_tf=True,
    dtype=np.float32)`` gives with those features written out as text (a test in
    tests/subscriptions/test_ranking.py compares the two), counted as numbers instead.

    Each distinct word of the fitted documents gets an id from 1, and a run of up to three
    words the number its ids spell in base (words + 1). A day's candidates have about a
    million occurrences of features; as strings, making, hashing and freeing them was most
    of a run's fixed cost. As numbers, numpy finds the distinct ones (the columns, in order
    of their number) and scipy sums each document's counts.
    """

    def __init__(self) -> None:
        self._word_ids: dict[str, int] = {}
        self._base = 1
        self._features = np.zeros(0, dtype=np.int64)  # each column's number, ascending
        self._tfidf = TfidfTransformer(sublinear_tf=True)

    def fit_transform(self, documents: Iterable[Any]) -> sparse.csr_matrix:
        return self.fit_counts(documents)[0]

    def fit_counts(self, documents: Iterable[Any]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """Fit, and return the documents' TF-IDF vectors and their raw feature counts."""
        counts = self._count(documents, learn=True)
        return self._tfidf.fit_transform(counts), counts

    def word_counts(self, counts: sparse.csr_matrix) -> np.ndarray:
        """Per row of raw ``counts``, how many words (features of one word) it holds."""
        single = (self._features < self._base).astype(np.float32)
        return np.asarray(counts @ single).ravel()

    def transform(self, documents: Iterable[Any]) -> sparse.csr_matrix:
        counts = self._count(documents, learn=False)
        if not counts.shape[0]:  # scikit-learn's transformer refuses an empty matrix
            return counts
        return self._tfidf.transform(counts)

    def column(self, words: Sequence[str]) -> int | None:
        """The column of the feature these (one to three) stemmed words make, if any."""
        if not words or len(words) > MAX_NGRAM:
            return None
        number = 0
        for word in words:
            word_id = self._word_ids.get(word)
            if word_id is None:
                return None
            number = number * self._base + word_id
        index = int(np.searchsorted(self._features, number))
        found = index < len(self._features) and self._features[index] == number
        return index if found else None

    @property
    def vocabulary_(self) -> dict[str, int]:
        """Each feature, its words joined by spaces, with its column (for tests; not fast)."""
        words = [""] * self._base
        for word, word_id in self._word_ids.items():
            words[word_id] = word
        vocabulary = {}
        for index, number in enumerate(self._features.tolist()):
            run = []
            while number:
                number, word_id = divmod(number, self._base)
                run.append(words[word_id])
            vocabulary[" ".join(reversed(run))] = index
        return vocabulary

    def _count(self, documents: Iterable[Any], *, learn: bool) -> sparse.csr_matrix:
        words: list[str] = []
        lengths, rows, repeats = [], [], []
        row = -1
        for row, document in enumerate(documents):
            for part_words, repeat in _parts(document):
                words += part_words
                lengths.append(len(part_words))
                rows.append(row)
                repeats.append(repeat)
        if learn:  # an unseen word gets the next id
            vocabulary: defaultdict[str, int] = defaultdict(None)
            vocabulary.default_factory = vocabulary.__len__
            ids = np.fromiter(map(vocabulary.__getitem__, words), np.int64, len(words)) + 1
            self._word_ids = {word: word_id + 1 for word, word_id in vocabulary.items()}
            self._base = len(vocabulary) + 1
            if self._base**MAX_NGRAM >= 2**63:
                raise ValueError(f"too many distinct words to number their phrases: {self._base}")
        else:  # an unknown word is 0, and no feature has it
            get = self._word_ids.get
            ids = np.fromiter(map(get, words, itertools.repeat(0)), np.int64, len(words))
        lengths_array = np.array(lengths, dtype=np.int64)
        part_end = np.repeat(np.cumsum(lengths_array), lengths_array)  # per word, its part's end
        word_row = np.repeat(np.array(rows, dtype=np.int64), lengths_array)
        word_weight = np.repeat(np.array(repeats, dtype=np.float32), lengths_array)
        start = np.arange(len(ids))
        numbers, keep = ids, ids > 0
        kept = [(numbers[keep], start[keep])]
        for n in range(2, MAX_NGRAM + 1):  # runs of n words starting at each word
            count = len(ids) - n + 1
            if count <= 0:
                break
            numbers = numbers[:count] * self._base + ids[n - 1 :]
            keep = keep[:count] & (ids[n - 1 :] > 0) & (start[:count] + n <= part_end[:count])
            kept.append((numbers[keep], start[:count][keep]))
        numbers = np.concatenate([k[0] for k in kept])
        starts = np.concatenate([k[1] for k in kept])
        if learn:
            self._features, columns = np.unique(numbers, return_inverse=True)
        else:
            columns = np.searchsorted(self._features, numbers)
            known = columns < len(self._features)
            known[known] = self._features[columns[known]] == numbers[known]
            columns, starts = columns[known], starts[known]
        matrix = sparse.csr_matrix(
            (word_weight[starts], (word_row[starts], columns)),
            shape=(row + 1, len(self._features)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return matrix
