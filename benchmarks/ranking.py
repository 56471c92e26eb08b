"""Benchmark: rank many subscribers against a day's candidate papers, without a database.

What it measures
    The two stages of ``subscriptions.matching.ranking`` a digest run pays for:

    1. ``vectorise_candidates`` - TF-IDF over the candidates, topic similarities, author index;
    2. ``rank_in_batches`` - consumed to the end, reasons included (every pick's reasons are
       built, counted and dropped; results are never all kept in memory).

    Synthetic data is generated first and is not timed. Papers are recombined from REAL titles
    and abstracts (the seed listing and the listing fixtures): each new paper takes a title
    (sometimes the head of one title and the tail of another) and sentences of several
    abstracts, shuffled. Authors come from a pool of plausible names (real first and last names
    recombined, prolific authors appearing on many papers), upvotes are heavy-tailed, papers are
    from the last week, ~1% are pinned, and topic tags are scored with ``papers.topics`` against
    the default topics, exactly as tagging would. Subscribers follow 1-5 topics, 0-5 keywords of
    skewed popularity, sometimes authors and excluded phrases.

    Memory is the peak resident set size of the process (``ru_maxrss``); the RSS right before
    ranking starts is printed too, so what ranking itself adds is visible.

How to run (from the repository root)
    .venv/bin/python benchmarks/ranking.py --subscribers 100000 --papers 2000
    .venv/bin/python benchmarks/ranking.py --subscribers 20000 --profile   # cProfile, top 25

    Targets: 100,000 subscribers x 2,000 papers (top 10 each) in at most 30 s (vectorising and
    ranking) with a peak RSS under 1 GB. The script prints PASS or FAIL and exits 0 either way,
    unless ``--strict`` is given.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib
import os
import platform
import pstats
import random
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402
from django.conf import settings  # noqa: E402

from papers.sources import parse_listing  # noqa: E402
from papers.sources.seed import parse_seed  # noqa: E402
from papers.text import phrase_key  # noqa: E402
from papers.topics import TopicPhrases, score_topics  # noqa: E402
from subscriptions.matching.interests import Interests  # noqa: E402
from subscriptions.matching.ranking import (  # noqa: E402
    CandidatePaper,
    RankedPaper,
    TopicProfile,
    rank_in_batches,
    vectorise_candidates,
)

SEED_LISTING = REPO_ROOT / "seeds" / "hf-daily-papers-2025-11-06.txt"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
FIXTURE_LISTINGS = (
    "hf-daily-papers.json",
    "hf-daily-papers.html",
    "arxiv-api-query-testing-10.atom.xml",
    "arxiv-list-cs-LG-new.html",
)
# A fixed "today" keeps popularity (which decays with age) the same from run to run.
TODAY = date(2025, 11, 7)

TARGET_SUBSCRIBERS = 100_000
TARGET_PAPERS = 2_000

# Phrases subscribers type besides topic keywords: what people follow on paper feeds.
EXTRA_KEYWORDS = (
    "LoRA",
    "model merging",
    "reward model",
    "diffusion transformer",
    "graph neural networks",
    "speculative decoding",
    "RLHF",
    "direct preference optimization",
    "chain-of-thought",
    "retrieval-augmented generation",
    "agents",
    "tool use",
    "code generation",
    "mathematical reasoning",
    "vision transformer",
    "state space models",
    "Mamba",
    "knowledge distillation",
    "contrastive learning",
    "self-supervised learning",
    "hallucination",
    "long context",
    "KV cache",
    "pruning",
    "world models",
    "text-to-speech",
    "speech recognition",
    "optical flow",
    "object detection",
    "semantic segmentation",
    "medical imaging",
    "protein structure",
    "time series forecasting",
    "federated learning",
    "differential privacy",
    "adversarial robustness",
    "interpretability",
    "sparse autoencoders",
    "scaling laws",
    "tokenizer",
    "embodied AI",
    "robot manipulation",
    "autonomous driving",
    "benchmark",
    "synthetic data",
    "continual learning",
    "active learning",
    "causal inference",
    "Bayesian optimization",
    "neural architecture search",
)
EXCLUDED_PHRASES = (
    "survey",
    "benchmark",
    "medical",
    "reinforcement learning",
    "GAN",
    "quantum",
    "robotics",
    "speech",
    "autonomous driving",
    "federated learning",
    "LLM",
    "3D",
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


@dataclass(frozen=True, slots=True)
class SourcePaper:
    """A real title and abstract from a listing, split into sentences for recombination."""

    title: str
    sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Corpus:
    """Everything synthetic data is drawn from."""

    sources: list[SourcePaper]
    first_names: list[str]
    last_names: list[str]
    real_authors: list[str]


@dataclass(slots=True)
class RankingStats:
    """What consuming ``rank_in_batches`` produced, counted as it streamed by."""

    subscribers: int = 0
    picks: int = 0
    with_picks: int = 0
    full: int = 0
    reasons: int = 0
    reason_kinds: Counter[str] | None = None
    batch_seconds: list[float] | None = None


# --- Synthetic data -----------------------------------------------------------------------


def load_corpus() -> Corpus:
    """Real titles, abstracts and author names from the seed listing and the fixtures."""
    listings = [parse_seed(SEED_LISTING.read_text(encoding="utf-8"))]
    listings += [
        parse_listing((FIXTURES / name).read_text(encoding="utf-8")) for name in FIXTURE_LISTINGS
    ]
    sources: dict[str, SourcePaper] = {}
    authors: dict[str, None] = {}
    for listing in listings:
        for record in listing.records:
            authors.update(dict.fromkeys(record.authors))
            key = record.title.casefold()
            if not record.abstract or key in sources:
                continue
            sentences = tuple(s for s in _SENTENCE_END.split(record.abstract) if s.strip())
            sources[key] = SourcePaper(record.title, sentences)
    real_authors = [name for name in authors if len(name.split()) >= 2]
    return Corpus(
        sources=list(sources.values()),
        first_names=sorted({name.split()[0] for name in real_authors}),
        last_names=sorted({name.split()[-1] for name in real_authors}),
        real_authors=real_authors,
    )


def zipf_cumulative(size: int, exponent: float) -> list[float]:
    """Cumulative weights for ``random.choices``: item r is drawn ~ 1 / (r + 1) ** exponent."""
    return list(accumulate(1.0 / (rank + 1) ** exponent for rank in range(size)))


def author_pool(corpus: Corpus, size: int, rng: random.Random) -> list[str]:
    """``size`` distinct plausible names: the real ones, then real first x last names."""
    names = dict.fromkeys(corpus.real_authors)
    attempts = 0
    while len(names) < size and attempts < size * 20:
        attempts += 1
        names[f"{rng.choice(corpus.first_names)} {rng.choice(corpus.last_names)}"] = None
    pool = list(names)[:size]
    rng.shuffle(pool)  # the order is the popularity rank (see zipf_cumulative)
    return pool


def synthetic_title(index: int, corpus: Corpus, rng: random.Random) -> str:
    """A real title; past the first pass over the corpus, half are two titles spliced."""
    sources = corpus.sources
    title = sources[index % len(sources)].title
    if index < len(sources) or rng.random() < 0.5:
        return title
    other = rng.choice(sources).title
    if ":" in title and ":" in other:
        return f"{title.split(':', 1)[0]}:{other.split(':', 1)[1]}"
    return title


def synthetic_abstract(index: int, corpus: Corpus, rng: random.Random) -> str:
    """A real abstract; past the first pass, its sentences mixed with 2-5 from other papers."""
    sources = corpus.sources
    own = list(sources[index % len(sources)].sentences)
    if index < len(sources):
        return " ".join(own)
    kept = rng.sample(own, k=max(1, len(own) - rng.randint(0, len(own) // 2)))
    borrowed = [rng.choice(rng.choice(sources).sentences) for _ in range(rng.randint(2, 5))]
    sentences = kept + borrowed
    rng.shuffle(sentences)
    return " ".join(sentences)


def default_topics() -> tuple[list[TopicProfile], list[TopicPhrases]]:
    """The default topics (from the data migration) as ranking profiles and tagging phrases."""
    migration = importlib.import_module("papers.migrations.0002_default_topics")
    profiles: list[TopicProfile] = []
    phrases: list[TopicPhrases] = []
    for topic_id, (name, _slug, _description, keywords) in enumerate(migration.TOPICS, start=1):
        every = (name, *keywords)
        profiles.append(TopicProfile(topic_id=topic_id, name=name, phrases=every))
        keys = {phrase_key(phrase) for phrase in every} - {()}
        phrases.append(TopicPhrases(topic_id, tuple(sorted(keys))))
    return profiles, phrases


def make_papers(
    count: int, corpus: Corpus, topics: list[TopicPhrases], rng: random.Random
) -> tuple[list[CandidatePaper], list[str]]:
    """``count`` candidate papers, and the author pool they were written by."""
    authors = author_pool(corpus, max(len(corpus.real_authors), count * 3), rng)
    author_weights = zipf_cumulative(len(authors), 0.6)
    threshold = settings.TOPIC_TAG_THRESHOLD
    papers: list[CandidatePaper] = []
    for index in range(count):
        title = synthetic_title(index, corpus, rng)
        abstract = synthetic_abstract(index, corpus, rng)
        team = rng.choices((2, 3, 4, 5, 6, 7, 8, 10, 12, 20), (4, 8, 10, 10, 8, 6, 5, 3, 2, 1))[0]
        names = tuple(dict.fromkeys(rng.choices(authors, cum_weights=author_weights, k=team)))
        age = rng.randint(0, 6)
        upvotes = min(int(rng.lognormvariate(1.6, 1.3)), 2000)
        # Young papers gather most of their upvotes in the last day.
        growth = int(upvotes * rng.betavariate(1.0, 1.0 + age))
        scores = score_topics(title=title, abstract=abstract, topics=topics)
        papers.append(
            CandidatePaper(
                paper_id=index + 1,
                title=title,
                abstract=abstract,
                authors=names,
                upvotes=upvotes,
                growth=growth,
                day=TODAY - timedelta(days=age),
                pinned=rng.random() < 0.01,
                topic_scores={t: round(s, 4) for t, s in scores.items() if s >= threshold},
            )
        )
    return papers, authors


def make_subscribers(
    count: int,
    topics: Sequence[TopicProfile],
    authors: Sequence[str],
    rng: random.Random,
) -> list[Interests]:
    """``count`` subscribers with skewed tastes: a few topics and keywords are very popular."""
    keyword_pool = list(
        dict.fromkeys([k for topic in topics for k in topic.phrases[1:]] + list(EXTRA_KEYWORDS))
    )
    rng.shuffle(keyword_pool)
    keyword_weights = zipf_cumulative(len(keyword_pool), 1.0)
    topic_ids = [topic.topic_id for topic in topics]
    rng.shuffle(topic_ids)
    topic_weights = zipf_cumulative(len(topic_ids), 0.8)
    author_weights = zipf_cumulative(len(authors), 0.8)

    def distinct(pool: Sequence[str] | Sequence[int], weights: list[float], k: int) -> tuple:
        return tuple(dict.fromkeys(rng.choices(pool, cum_weights=weights, k=k))) if k else ()

    subscribers: list[Interests] = []
    for subscriber_id in range(1, count + 1):
        followed = (
            distinct(authors, author_weights, rng.randint(1, 2)) if rng.random() < 0.2 else ()
        )
        excluded = (
            tuple(rng.sample(EXCLUDED_PHRASES, rng.randint(1, 2))) if rng.random() < 0.1 else ()
        )
        subscribers.append(
            Interests(
                subscriber_id=subscriber_id,
                topic_ids=distinct(topic_ids, topic_weights, rng.randint(1, 5)),
                keywords=distinct(keyword_pool, keyword_weights, rng.randint(0, 5)),
                authors=followed,
                excluded=excluded,
            )
        )
    return subscribers


def embed_everything(
    papers: list[CandidatePaper], subscribers: Sequence[Interests], cache: Path | None
) -> tuple[list[CandidatePaper], Callable[[Sequence[str]], np.ndarray]]:
    """The papers with their sentence embeddings, made as ingest makes them (timed and
    printed: the embedding target), and the subscribers' keywords' vectors as a lookup
    (made first, not timed: sign-up stores them)."""
    from papers.embeddings import embed_texts, forget_embedded_texts, paper_text

    keywords = sorted({k.casefold() for s in subscribers for k in s.keywords})
    started = time.perf_counter()
    keyword_vectors = dict(zip(keywords, embed_texts(keywords), strict=True))
    print(
        f"embedding {len(keywords)} distinct keywords (not counted): "
        f"{time.perf_counter() - started:.1f} s"
    )
    forget_embedded_texts()
    texts = [paper_text(p.title, p.abstract) for p in papers]
    if cache is not None and cache.exists():
        vectors = np.load(cache)
        if vectors.shape[0] == len(texts):
            print(f"embedding {len(papers):,} papers: read from {cache} (not timed)")
            return _with_vectors(papers, vectors, keyword_vectors)
    rss_before = rss_now_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    vectors = embed_texts(texts)
    seconds = time.perf_counter() - started
    if cache is not None:
        np.save(cache, vectors)
    print(
        f"embedding {len(papers):,} papers: {seconds:.1f} s "
        f"(CPU {time.process_time() - cpu_started:.1f} s), "
        f"{seconds / max(len(papers), 1) * 1000:.0f} ms a paper; RSS {rss_before:.0f} -> "
        f"{rss_now_mb():.0f} MB (peak so far {rss_peak_mb():.0f} MB)"
    )
    return _with_vectors(papers, vectors, keyword_vectors)


def _with_vectors(
    papers: list[CandidatePaper], vectors: np.ndarray, keyword_vectors: dict[str, np.ndarray]
) -> tuple[list[CandidatePaper], Callable[[Sequence[str]], np.ndarray]]:
    zero = np.zeros(vectors.shape[1], dtype=np.float32)

    def lookup(phrases: Sequence[str]) -> np.ndarray:
        return np.vstack([keyword_vectors.get(p.casefold(), zero) for p in phrases])

    embedded = [dataclasses.replace(p, embedding=v) for p, v in zip(papers, vectors, strict=True)]
    return embedded, lookup


# --- Measuring ----------------------------------------------------------------------------


def rss_now_mb() -> float:
    """The current resident set size, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_peak_mb() -> float:
    """The peak resident set size of this process so far (``ru_maxrss`` is KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def consume(
    results: Iterator[tuple[Interests, list[RankedPaper]]], batch_size: int, limit: int
) -> RankingStats:
    """Count picks and reasons as they stream by; keep none of them."""
    stats = RankingStats(reason_kinds=Counter(), batch_seconds=[])
    assert stats.reason_kinds is not None and stats.batch_seconds is not None
    batch_start = time.perf_counter()
    for _interests, picks in results:
        stats.subscribers += 1
        stats.picks += len(picks)
        stats.with_picks += bool(picks)
        stats.full += len(picks) >= limit
        for pick in picks:
            stats.reasons += len(pick.reasons)
            stats.reason_kinds.update(reason.kind for reason in pick.reasons)
        if stats.subscribers % batch_size == 0:
            now = time.perf_counter()
            stats.batch_seconds.append(now - batch_start)
            batch_start = now
    if stats.subscribers % batch_size:
        stats.batch_seconds.append(time.perf_counter() - batch_start)
    return stats


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=TARGET_SUBSCRIBERS)
    parser.add_argument("--papers", type=int, default=TARGET_PAPERS)
    parser.add_argument("--limit", type=int, default=10, help="picks per subscriber")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="subscribers per batch (default: settings.RANKING['SUBSCRIBER_BATCH_SIZE'])",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile the ranking stage")
    parser.add_argument(
        "--lexical-only",
        action="store_true",
        help="no embeddings (ranking as without the semantic extra)",
    )
    parser.add_argument(
        "--embeddings-cache",
        type=Path,
        help="read the papers' vectors from this .npy if it exists (else embed, timed, and "
        "write it): for repeated ranking runs",
    )
    parser.add_argument("--target-seconds", type=float, default=30.0)
    parser.add_argument("--target-rss-mb", type=float, default=1024.0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    batch_size = args.batch_size or settings.RANKING["SUBSCRIBER_BATCH_SIZE"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine: {cores} cores usable ({os.cpu_count()} online), Python "
        f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )
    print(
        f"run: {args.subscribers:,} subscribers x {args.papers:,} papers, top {args.limit}, "
        f"batches of {batch_size:,}, seed {args.seed}{', PROFILED' if args.profile else ''}"
    )

    started = time.perf_counter()
    corpus = load_corpus()
    profiles, phrases = default_topics()
    papers, authors = make_papers(args.papers, corpus, phrases, random.Random(f"{args.seed}-p"))
    subscribers = make_subscribers(
        args.subscribers, profiles, authors, random.Random(f"{args.seed}-s")
    )
    tagged = sum(bool(paper.topic_scores) for paper in papers)
    print(
        f"data generation (not counted): {time.perf_counter() - started:.1f} s - "
        f"{len(corpus.sources)} real source papers, {len(authors):,} authors in the pool, "
        f"{tagged / max(len(papers), 1):.0%} of papers tagged, "
        f"{sum(p.pinned for p in papers)} pinned, {len(profiles)} topics"
    )

    phrase_source = None
    if not args.lexical_only:
        papers, phrase_source = embed_everything(papers, subscribers, args.embeddings_cache)

    rss_before_vectorise = rss_now_mb()
    started = time.perf_counter()
    candidates = vectorise_candidates(papers=papers, topics=profiles, today=TODAY)
    if phrase_source is not None:  # the interests' stored vectors, as a run reads them
        candidates.phrase_vectors = phrase_source
    vectorise_seconds = time.perf_counter() - started
    print(
        f"vectorise_candidates: {vectorise_seconds:.2f} s - "
        f"{candidates.paper_vectors.shape[1]:,} features, "
        f"{candidates.paper_vectors.nnz:,} non-zeros; RSS {rss_before_vectorise:.0f} -> "
        f"{rss_now_mb():.0f} MB"
    )

    rss_before_ranking = rss_now_mb()
    peak_before_ranking = rss_peak_mb()
    results = rank_in_batches(
        subscribers=subscribers, candidates=candidates, limit=args.limit, batch_size=batch_size
    )
    profiler = cProfile.Profile() if args.profile else None
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    stats = consume(results, batch_size, args.limit)
    if profiler is not None:
        profiler.disable()
    ranking_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak = rss_peak_mb()

    assert stats.batch_seconds is not None and stats.reason_kinds is not None
    batches = sorted(stats.batch_seconds)
    print(
        f"ranking (all batches, reasons included): {ranking_seconds:.2f} s "
        f"(CPU {cpu_seconds:.2f} s), {stats.subscribers / max(ranking_seconds, 1e-9):,.0f} "
        f"subscribers/s; per batch median {batches[len(batches) // 2]:.3f} s, "
        f"max {batches[-1]:.3f} s over {len(batches)} batches"
    )
    print(
        f"picks: {stats.picks:,} in all, {stats.picks / max(stats.subscribers, 1):.2f} per "
        f"subscriber; {stats.with_picks / max(stats.subscribers, 1):.1%} of subscribers got at "
        f"least one, {stats.full / max(stats.subscribers, 1):.1%} a full {args.limit}"
    )
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in stats.reason_kinds.most_common())
    print(
        f"reasons: {stats.reasons:,} ({stats.reasons / max(stats.picks, 1):.2f} per pick: {kinds})"
    )
    print(
        f"memory: RSS {rss_before_ranking:.0f} MB right before ranking (peak so far "
        f"{peak_before_ranking:.0f} MB), peak RSS {peak:.0f} MB at the end "
        f"(ranking added up to {max(peak - rss_before_ranking, 0):.0f} MB)"
    )

    total = vectorise_seconds + ranking_seconds
    passed = total <= args.target_seconds and peak < args.target_rss_mb
    scale = (
        ""
        if (args.subscribers, args.papers) == (TARGET_SUBSCRIBERS, TARGET_PAPERS)
        else f" [scaled run: the targets are for {TARGET_SUBSCRIBERS:,} x {TARGET_PAPERS:,}]"
    )
    caveat = " [profiled: times are inflated]" if args.profile else ""
    print(
        f"{'PASS' if passed else 'FAIL'}: vectorise + rank {total:.1f} s "
        f"(target <= {args.target_seconds:g} s), peak RSS {peak:.0f} MB "
        f"(target < {args.target_rss_mb:g} MB){scale}{caveat}"
    )

    if profiler is not None:
        print("\ncProfile of the ranking stage, top 25 by cumulative time:")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        print("top 15 by own (total) time:")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
