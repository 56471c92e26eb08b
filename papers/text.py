"""Text analysis shared by topic tagging and ranking: one tokenizer, so both agree.

Words are lower-cased, accents dropped, and stemmed (Snowball English) so that "merging",
"merged" and "merge" meet. Phrases are matched on stemmed token sequences.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from importlib.metadata import version

import snowballstemmer

_WORD = re.compile(r"[a-z0-9]+(?:\^[a-z0-9]+)?")
_stemmer = snowballstemmer.stemmer("english")

# Function words and abstract boilerplate, which say nothing about a topic. Words that form
# technical compounds ("few-shot", "out-of-distribution", "multi-task", "state space") stay.
STOP_WORDS = frozenset(
    (
        "a about after again against also an and any are as at be because been before being "
        "between both but by can could did do does doing during each for from further had has "
        "have having here how i if in into is it its itself just more most no nor not of on "
        "once only or other our own same she should so some such than that the their them then "
        "there these they this those through to too until very was we were what when where "
        "which while who whom why will with would you your via using use used based propose "
        "proposed paper approach method methods new novel show shows results result work model "
        "models existing however well furthermore moreover significantly achieve achieves "
        "extensive experiments demonstrate"
    ).split()
)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def forget_stems() -> None:
    """Forget the words stemmed so far (for benchmarks that start as a fresh process would)."""
    _stem.cache_clear()


def tokens(text: str) -> list[str]:
    """The stemmed word tokens of ``text``, in order, stop words included (phrases need them)."""
    if text.isascii():  # most abstracts: nothing to decompose (and casefold is lower)
        plain = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return list(map(_stem, _WORD.findall(plain)))


def content_tokens(text: str) -> list[str]:
    """``tokens`` without stop words: what carries meaning for matching and vectors."""
    return [token for token in tokens(text) if token not in _STEMMED_STOP_WORDS]


_STEMMED_STOP_WORDS = frozenset(_stem(word) for word in STOP_WORDS)


def ngram_counts(token_list: list[str], *, max_n: int = 4) -> Counter[tuple[str, ...]]:
    """How often each run of 1 to ``max_n`` consecutive tokens occurs."""
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, max_n + 1):
        for start in range(len(token_list) - n + 1):
            counts[tuple(token_list[start : start + n])] += 1
    return counts


def phrase_key(phrase: str) -> tuple[str, ...]:
    """The stemmed token sequence a phrase is matched by (stop words inside it are dropped)."""
    return tuple(content_tokens(phrase))


def content_ngrams(text: str, *, max_n: int = 4) -> Counter[tuple[str, ...]]:
    """``ngram_counts`` over the content tokens of ``text``: the units phrases are matched on."""
    return ngram_counts(content_tokens(text), max_n=max_n)


# A paper's analysed text is stored with it (``Paper.terms``), so that ranking does not analyse
# every candidate again on every run. Each stored analysis names the text it was made of and
# the analysis that made it; any other is ignored and the text analysed anew (a data migration
# like papers 0004 stores them again). Bump the number when ``tokens`` changes what it makes
# of a text; the stop words, the word pattern and the stemmer's package and version are part
# of the name already.
_STEMMER_PACKAGE = {"Stemmer": "PyStemmer"}.get(type(_stemmer).__module__, "snowballstemmer")
_ANALYSIS = hashlib.blake2b(
    repr(
        (1, _WORD.pattern, sorted(STOP_WORDS), _STEMMER_PACKAGE, version(_STEMMER_PACKAGE))
    ).encode(),
    digest_size=4,
).hexdigest()


def _analysis_key(title: str, abstract: str) -> str:
    text = f"{title}\x00{abstract}".encode(errors="surrogatepass")
    return f"{_ANALYSIS}:{hashlib.blake2b(text, digest_size=8).hexdigest()}"


def stored_terms(title: str, abstract: str) -> str:
    """What to store as a paper's ``terms``: a line naming the text and the analysis, then
    the content tokens of the title, then those of the abstract, space-separated."""
    title_tokens, abstract_tokens = content_tokens(title), content_tokens(abstract)
    key = _analysis_key(title, abstract)
    return f"{key}\n{' '.join(title_tokens)}\n{' '.join(abstract_tokens)}"


def paper_tokens(title: str, abstract: str, terms: str) -> tuple[list[str], list[str]]:
    """The content tokens of a paper's title and of its abstract: read from its stored
    ``terms`` when they are of this text and this analysis, else made now."""
    key, _, rest = terms.partition("\n")
    if key != _analysis_key(title, abstract):
        return content_tokens(title), content_tokens(abstract)
    title_terms, _, abstract_terms = rest.partition("\n")
    return title_terms.split(), abstract_terms.split()


# A sentence ends at ".", "!" or "?" followed by a space and a capital or digit, unless the
# word before is an abbreviation an abstract uses mid-sentence ("e.g.", "et al.", "Fig.").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "vs.", "fig.", "eq.", "cf.", "resp.", "approx.")
_ONE_LINE_CHARACTERS = 240


def first_sentence(text: str, *, limit: int = _ONE_LINE_CHARACTERS) -> str:
    """The first sentence of ``text`` (whitespace collapsed), cut at a word with "…" when it
    is longer than ``limit`` characters; "" for an empty text."""
    text = " ".join(text.split())
    for match in _SENTENCE_END.finditer(text):
        if text[: match.start()].lower().endswith(_ABBREVIATIONS):
            continue
        text = text[: match.start()]
        break
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


def one_line_summary(*, summary: str, abstract: str) -> str:
    """A paper in one line: the listing's own summary when it gave one, else the abstract's
    first sentence."""
    return first_sentence(summary) if summary.strip() else first_sentence(abstract)
