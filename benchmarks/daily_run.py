"""Benchmark: the real daily digest run, in one process, with every message serialised.

What it measures
    ``subscriptions.runs.run_in_process`` (the ``send_digests`` command's code: rank, build,
    render, send, record, batch by batch) for each ``--subscribers`` size, against
    ``--papers`` candidate papers made from the seed's real titles and abstracts
    (``benchmarks/seed_papers.py``), all featured on 2025-11-06. Subscribers follow 1 to 5
    topics and 0 to 5 keywords. The email backend fully serialises each message
    (``message.message().as_bytes()``) and discards it. Per stage it prints seconds, then
    digests/s, DB queries per 1,000 digests and peak RSS.

    Stages are timed by wrapping the functions the run calls: ranking
    (``rank_papers_for``), building (the rest of ``build_digest_batch``), rendering
    (``digest_email``), serialising (the backend) and recording (the rest of sending: claims
    and status updates).

How to run (from the repository root)
    .venv/bin/python benchmarks/daily_run.py                                  # SQLite, 1k and 10k
    .venv/bin/python benchmarks/daily_run.py --subscribers 1000,10000,100000 \\
        --database-url postgres://postgres@127.0.0.1:5432/paper_digest_daily
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DAY = date(2025, 11, 6)
KEYWORDS = [
    "model merging", "LoRA", "diffusion", "face recognition", "reward model", "retrieval",
    "segmentation", "distillation", "few-shot", "mixture-of-experts", "click-through rate",
    "point cloud", "vision-language", "knowledge distillation", "domain adaptation",
]  # fmt: skip

timings: dict[str, float] = defaultdict(float)


class SerialisingBackend:
    """Serialises every message as for SMTP, then drops it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def open(self) -> None: ...

    def close(self) -> None: ...

    def send_messages(self, messages: Sequence[Any]) -> int:
        started = time.perf_counter()
        for message in messages:
            message.message().as_bytes()
        timings["serialise"] += time.perf_counter() - started
        return len(messages)


def timed(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timings[stage] += time.perf_counter() - started

    return wrapper


def make_subscribers(count: int) -> None:
    from papers.models import Topic
    from subscriptions.models import Digest, Subscriber

    Digest.objects.all().delete()
    Subscriber.objects.all().delete()
    topics = list(Topic.objects.values_list("pk", flat=True))
    rng = random.Random(count)
    people = Subscriber.objects.bulk_create(
        [
            Subscriber(
                email=f"reader{n}@example.org",
                status=Subscriber.Status.ACTIVE,
                keywords=rng.sample(KEYWORDS, rng.randint(0, 5)),
            )
            for n in range(count)
        ],
        batch_size=2000,
    )
    Through = Subscriber.topics.through
    Through.objects.bulk_create(
        [
            Through(subscriber_id=person.pk, topic_id=topic)
            for person in people
            for topic in rng.sample(topics, rng.randint(1, 5))
        ],
        batch_size=5000,
    )


def run(count: int) -> dict[str, float]:
    from django.db import connection

    from subscriptions import digests, runs

    make_subscribers(count)
    digests._candidate_cache.clear()
    timings.clear()
    queries = 0

    def count_queries(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count_queries):
        totals = runs.run_in_process(day=DAY, frequency="daily")
    total = time.perf_counter() - started
    sent = max(totals.sent, 1)
    return {
        "subscribers": count,
        "sent": totals.sent,
        "rank": timings["rank"],
        "build": timings["build"] - timings["rank"],
        "render": timings["render"],
        "serialise": timings["serialise"],
        "record": timings["send"] - timings["render"] - timings["serialise"],
        "total": total,
        "per_s": totals.sent / total,
        "queries_per_1000": 1000 * queries / sent,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1000,10000", help="comma-separated sizes")
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument(
        "--database-url", default="sqlite:////tmp/paper_digest_daily.sqlite3", help="database"
    )
    arguments = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = arguments.database_url
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    # This module runs as __main__: the backend must be the one whose timings are printed.
    os.environ["EMAIL_BACKEND"] = f"{__name__}.SerialisingBackend"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
    sys.path.insert(0, str(REPO_ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks.seed_papers import fill
    from subscriptions import digests, runs, sending

    call_command("migrate", verbosity=0)
    fill(papers=arguments.papers, per_day=arguments.papers, last_day=DAY, tag=True)
    digests.rank_papers_for = timed("rank", digests.rank_papers_for)
    runs.build_digest_batch = timed("build", runs.build_digest_batch)
    runs.send_pending_digests = timed("send", runs.send_pending_digests)
    sending.digest_email = timed("render", sending.digest_email)

    from django.db import connection

    print(f"database: {connection.vendor}; papers: {arguments.papers}; day: {DAY}")
    header = ["subscribers", "sent", "rank", "build", "render", "serialise", "record", "total"]
    print(" ".join(f"{h:>11}" for h in header), f"{'digests/s':>10} {'q/1000':>8} {'RSS MB':>8}")
    for size in (int(s) for s in arguments.subscribers.split(",")):
        row = run(size)
        cells = [
            f"{row[h]:>11,.2f}" if isinstance(row[h], float) else f"{row[h]:>11,}" for h in header
        ]
        print(
            " ".join(cells),
            f"{row['per_s']:>10,.0f} {row['queries_per_1000']:>8,.0f} {row['rss_mb']:>8,.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
