"""Fill a database with synthetic papers for the load test (``benchmarks/load.py``).

What it writes
    ``--papers`` papers made from the REAL titles and abstracts of the seed listing
    (``seeds/hf-daily-papers-2025-11-06.txt``, read with ``papers.sources.seed.parse_seed``):
    the first pass over the seed takes its entries as they are, later papers splice two titles
    and mix the sentences of several abstracts. ``--per-day`` papers (100 by default) are
    featured on each day, going back day by day from ``--last-day`` (2025-11-06), so 50,000
    papers span 500 days and the home page (the latest day) lists 100 of them, as on a busy
    Hugging Face day. Each paper gets a synthetic but well-formed arXiv id with its arXiv,
    PDF and Hugging Face links, the seed entry's author count, heavy-tailed upvotes, a GitHub
    link for about a third and an editors' pick for about 1%, a Hugging Face thumbnail URL
    each and a one-line summary (one of its sentences) for about 60%. Papers are tagged with the
    topics in the database by ``papers.topics.tag_papers``, exactly as an ingest does
    (``--no-tags`` skips that). Source rows and upvote histories are not written: no public
    page reads them.

Idempotent
    Paper ``i`` (0-based) is always the same paper (its randomness is seeded by ``i``), so a
    run only adds the papers the database is missing: with ``--papers 50000`` on a database
    that has 2,000 papers it adds papers 2,000 to 49,999; on one that has 50,000 or more it
    writes nothing. Papers are inserted with ``bulk_create`` in batches, then the tables are
    ``ANALYZE``d so PostgreSQL plans with real statistics.

How to run (from the repository root; the database must be migrated)
    .venv/bin/python benchmarks/seed_papers.py --papers 50000 \\
        --database-url postgres://postgres@127.0.0.1:5432/paper_digest_load

    ``benchmarks/load.py`` runs it for you. Without ``--database-url`` the ``DATABASE_URL`` of
    the environment is used (the SQLite database under var/ when unset).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_LISTING = REPO_ROOT / "seeds" / "hf-daily-papers-2025-11-06.txt"
LAST_DAY = date(2025, 11, 6)
BATCH_SIZE = 2000

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


@dataclass(frozen=True, slots=True)
class SourcePaper:
    """A real entry of the seed listing, its abstract split into sentences."""

    title: str
    sentences: tuple[str, ...]
    author_count: int | None
    published_on: date | None


def load_sources() -> list[SourcePaper]:
    """The seed listing's entries that have an abstract, in listing order."""
    from papers.sources.seed import parse_seed

    listing = parse_seed(SEED_LISTING.read_text(encoding="utf-8"))
    sources = []
    for record in listing.records:
        sentences = tuple(s for s in _SENTENCE_END.split(record.abstract) if s.strip())
        if sentences:
            sources.append(
                SourcePaper(
                    record.title,
                    sentences,
                    record.author_count or len(record.authors) or None,
                    record.published_on,
                )
            )
    if not sources:
        raise SystemExit(f"{SEED_LISTING}: no entry with an abstract")
    return sources


def featured_day(index: int, *, per_day: int, last_day: date) -> date:
    """Papers 0..per_day-1 are featured on ``last_day``, the next ``per_day`` the day before..."""
    return last_day - timedelta(days=index // per_day)


def synthetic_paper(index: int, sources: Sequence[SourcePaper], *, per_day: int, last_day: date):
    """Paper number ``index``: always the same for the same index, seed listing and layout."""
    from papers.models import Paper
    from papers.sources import normalise_title

    rng = random.Random(1_000_003 * index + 17)
    source = sources[index % len(sources)]
    title = source.title
    sentences = list(source.sentences)
    if index >= len(sources):
        other = rng.choice(sources)
        if ":" in title and ":" in other.title and rng.random() < 0.5:
            title = f"{title.split(':', 1)[0]}:{other.title.split(':', 1)[1]}"
        kept = rng.sample(sentences, k=max(1, len(sentences) - rng.randint(0, len(sentences) // 2)))
        borrowed = [rng.choice(rng.choice(sources).sentences) for _ in range(rng.randint(2, 5))]
        sentences = kept + borrowed
        rng.shuffle(sentences)
    day = featured_day(index, per_day=per_day, last_day=last_day)
    published = day - timedelta(days=rng.choice((0, 1, 1, 2, 3, 7, 30)))
    arxiv_id = f"{day:%y%m}.{index:05d}"
    github = rng.random() < 0.35
    paper = Paper(
        arxiv_id=arxiv_id,
        title=title,
        title_key=normalise_title(title)[:512],
        abstract=" ".join(sentences),
        author_count=source.author_count or rng.randint(2, 12),
        published_on=published,
        featured_on=day,
        upvotes=min(int(rng.lognormvariate(1.8, 1.3)), 3000),
        comment_count=rng.randint(0, 6),
        arxiv_url=f"https://arxiv.org/abs/{arxiv_id}",
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        hf_url=f"https://huggingface.co/papers/{arxiv_id}",
        github_url=f"https://github.com/example-lab/paper-{index}" if github else "",
        github_stars=int(rng.lognormvariate(3.0, 1.5)) if github else None,
        pinned=rng.random() < 0.01,
        # Hugging Face gives every paper a thumbnail and most an AI summary (issue 21).
        thumbnail_url=f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png",
    )
    # Drawn after everything else, so the papers are the same as before these were added.
    if rng.random() < 0.6:
        paper.summary = rng.choice(sentences).strip()
    paper.analyse()  # as ingest does
    return paper


def fill(*, papers: int, per_day: int, last_day: date, tag: bool) -> dict[str, float]:
    """Add the papers the database is missing (see the module docstring); return the counts."""
    from django.db import connection, transaction

    from papers.models import Paper, PaperTopic
    from papers.topics import tag_papers

    started = time.perf_counter()
    existing = Paper.objects.count()
    if existing >= papers:
        print(f"seed: the database already has {existing:,} papers (>= {papers:,}); nothing to do")
        return {"papers": existing, "created": 0, "seconds": 0.0}

    sources = load_sources()
    created_ids: list[int] = []
    for start in range(existing, papers, BATCH_SIZE):
        batch = [
            synthetic_paper(index, sources, per_day=per_day, last_day=last_day)
            for index in range(start, min(start + BATCH_SIZE, papers))
        ]
        with transaction.atomic():
            created_ids.extend(paper.pk for paper in Paper.objects.bulk_create(batch))
        print(f"seed: {start + len(batch):,} / {papers:,} papers", flush=True)
    insert_seconds = time.perf_counter() - started

    tags = 0
    if tag:
        tag_started = time.perf_counter()
        tags = tag_papers(paper_ids=created_ids)
        print(f"seed: {tags:,} topic tags in {time.perf_counter() - tag_started:.1f} s", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Paper, PaperTopic):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    total = time.perf_counter() - started
    print(
        f"seed: created {len(created_ids):,} papers ({insert_seconds:.1f} s to insert), "
        f"{tags:,} tags, {total:.1f} s in all; the database has {Paper.objects.count():,} papers"
    )
    return {"papers": existing + len(created_ids), "created": len(created_ids), "seconds": total}


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=50_000)
    parser.add_argument("--per-day", type=int, default=100, help="papers featured per day")
    parser.add_argument(
        "--last-day", type=date.fromisoformat, default=LAST_DAY, help="the latest featured day"
    )
    parser.add_argument("--no-tags", action="store_true", help="do not tag papers with topics")
    parser.add_argument(
        "--database-url", default=None, help="default: DATABASE_URL from the environment"
    )
    arguments = parser.parse_args(argv)
    if arguments.papers < 1 or arguments.per_day < 1:
        parser.error("--papers and --per-day must be positive")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.database_url:
        os.environ["DATABASE_URL"] = arguments.database_url
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")

    import django

    django.setup()
    fill(
        papers=arguments.papers,
        per_day=arguments.per_day,
        last_day=arguments.last_day,
        tag=not arguments.no_tags,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
