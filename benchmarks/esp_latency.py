"""Benchmark: the daily run through anymail's real Postmark backend, against a fake ESP.

What it measures
    The day's digests sent by ``run_in_process`` (one process, the ``send_digests``
    command's code) and by N Celery workers (``subscriptions.tasks.send_digests`` on the
    real Redis broker), through ``anymail.backends.postmark.EmailBackend`` pointed at
    ``benchmarks/fake_esp.py`` on loopback, which answers after ``--latencies`` ms (with
    ``--jitter-ms``, ``--error-rate`` 5xx and ``--rate-429``). For each latency and each
    number of workers it prints digests/s, the most requests the ESP had in flight at once,
    duplicates the ESP counted (by recipient), the achieved rate against
    ``DIGEST_SEND_RATE_PER_SECOND`` and the busiest 1-second window, peak RSS (of each
    worker), and DB queries per 1,000 digests (in one process).

    Each configuration runs in a fresh process on a freshly filled database: 2,000 papers
    from the seed's real titles and abstracts, ``--subscribers`` readers with 1 to 5 topics
    (``benchmarks/daily_run.py``'s readers). The in-process run is warmed up first with 200
    readers whose sends are not counted.

Usage
    .venv/bin/python benchmarks/esp_latency.py \\
        --database-url postgres://postgres@127.0.0.1:5432/paper_digest_esp      # 10k, 0/100/300 ms
    .venv/bin/python benchmarks/esp_latency.py --subscribers 100000 --latencies 100 \\
        --workers 2 --database-url postgres://postgres@127.0.0.1:5432/paper_digest_esp
    .venv/bin/python benchmarks/esp_latency.py --rate 200 --workers 2 --latencies 100 \\
        --database-url postgres://postgres@127.0.0.1:5432/paper_digest_esp
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.fake_esp import start_fake_esp  # noqa: E402

WARM_UP = 200


def child(arguments: argparse.Namespace) -> dict[str, Any]:
    """One configuration, in this (fresh) process; the environment points at the fake ESP."""
    import django

    django.setup()
    import requests
    from django.core.management import call_command

    from benchmarks import daily_run
    from benchmarks.seed_papers import fill
    from subscriptions.delivery import caches, runs
    from subscriptions.models import Digest
    from subscriptions.tasks import send_digests

    call_command("migrate", verbosity=0)
    fill(papers=arguments.papers, per_day=arguments.papers, last_day=daily_run.DAY, tag=True)
    count = arguments.subscribers
    if not arguments.workers:
        daily_run.make_subscribers(WARM_UP)  # code imported, templates compiled, connections
        runs.run_in_process(day=daily_run.DAY, frequency="daily")
    daily_run.make_subscribers(count)
    caches.forget_day()
    requests.post(f"{arguments.esp_url.rstrip('/')}/reset", timeout=10).raise_for_status()
    if arguments.workers:
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
        with tempfile.TemporaryDirectory(prefix="esp_latency_workers_") as name:
            log_dir = Path(name)
            workers = daily_run.start_workers(arguments.workers, log_dir, environ=os.environ)
            try:
                daily_run.wait_until_ready(workers, log_dir)
                started = time.perf_counter()
                send_digests.delay("daily", daily_run.DAY.isoformat())
                daily_run.wait_until_finished(count, workers, log_dir)
                total = time.perf_counter() - started
                rss = max(daily_run.peak_rss_mb(worker.pid) for worker in workers)
            except Exception:
                for log in sorted(log_dir.glob("*.log")):
                    print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
                raise
            finally:
                daily_run.stop_workers(workers)
        sent = Digest.objects.filter(status=Digest.Status.SENT).count()
        return {"sent": sent, "total": total, "rss_mb": rss, "queries_per_1000": None}

    started = time.perf_counter()
    with daily_run.counting_queries() as counted:
        totals = runs.run_in_process(day=daily_run.DAY, frequency="daily")
    total = time.perf_counter() - started
    [queries] = counted
    return {
        "sent": totals.sent,
        "total": total,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "queries_per_1000": 1000 * queries / max(totals.sent, 1),
    }


def measure(arguments: argparse.Namespace, *, latency: int, workers: int) -> dict[str, Any]:
    """Start a fake ESP at ``latency`` ms, run one configuration in a fresh process, and
    put what the process measured beside what the ESP saw."""
    knobs = {
        "latency_ms": latency,
        "jitter_ms": min(arguments.jitter_ms, latency),
        "error_rate": arguments.error_rate,
        "rate_429": arguments.rate_429,
        "keep_messages": 0,  # a big run keeps only counts
    }
    with start_fake_esp(**knobs) as esp:
        environ = {
            **os.environ,
            **esp.environ(),
            "DATABASE_URL": arguments.database_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only"),
            "DJANGO_SETTINGS_MODULE": "digest_site.settings",
            "DIGEST_SEND_CONCURRENCY": str(arguments.concurrency),
            "DIGEST_SEND_RATE_PER_SECOND": str(arguments.rate or 0),
            "DIGEST_RETRY_BASE_SECONDS": "1",
        }
        if workers:
            environ["REDIS_URL"] = environ["BROKER_URL"] = arguments.redis_url
        else:
            environ.pop("REDIS_URL", None)
            environ.pop("BROKER_URL", None)
        command = [sys.executable, __file__, *sys.argv[1:], "--child", "--esp-url", esp.url]
        command += ["--child-workers", str(workers)]
        done = subprocess.run(
            command, check=True, env=environ, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        stats = esp.stats()
    per_second = stats["accepted_per_second"] or [0]
    # The first and last windows are partial: the busiest full second is read between them.
    inner = per_second[1:-1] or per_second
    span = stats["accept_span_seconds"] or row["total"]
    return {
        **row,
        "latency": latency,
        "workers": workers,
        "per_s": row["sent"] / row["total"],
        "max_in_flight": stats["max_in_flight"],
        "duplicates": stats["duplicate_recipients"],
        "accepted": stats["messages_accepted"],
        "achieved_rate": stats["messages_accepted"] / span if span else 0.0,
        "busiest_second": max(inner),
        "errors": sum(stats["errors_by_status"].values()),
    }


# (key, title, width, format)
COLUMNS = [
    ("latency", "ms", 5, "{}"),
    ("workers", "workers", 7, "{}"),
    ("sent", "sent", 8, "{:,}"),
    ("total", "seconds", 8, "{:,.2f}"),
    ("per_s", "digests/s", 9, "{:,.0f}"),
    ("max_in_flight", "in flight", 9, "{}"),
    ("duplicates", "dupes", 5, "{}"),
    ("errors", "ESP errs", 8, "{}"),
    ("achieved_rate", "rate/s", 7, "{:,.0f}"),
    ("busiest_second", "max 1 s", 7, "{}"),
    ("rss_mb", "RSS MB", 7, "{:,.0f}"),
    ("queries_per_1000", "q/1000", 7, "{:.0f}"),
]


def print_row(row: dict[str, Any]) -> None:
    cells = [
        ("-" if row[key] is None else form.format(row[key])).rjust(width)
        for key, _, width, form in COLUMNS
    ]
    print(" ".join(cells), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--latencies", default="0,100,300", help="ESP latencies in ms")
    parser.add_argument("--workers", default="0", help="0 (one process) and/or Celery workers")
    parser.add_argument("--concurrency", type=int, default=64, help="DIGEST_SEND_CONCURRENCY")
    parser.add_argument("--rate", type=float, default=0, help="DIGEST_SEND_RATE_PER_SECOND")
    parser.add_argument("--jitter-ms", type=int, default=20)
    parser.add_argument("--error-rate", type=float, default=0.0, help="share answered 5xx")
    parser.add_argument("--rate-429", type=float, default=0.0, help="share answered 429")
    parser.add_argument("--database-url", required=True, help="PostgreSQL; it must exist")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="flushed")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--esp-url", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        arguments.workers = arguments.child_workers
        print(json.dumps(child(arguments)))
        return 0
    print(
        f"{arguments.subscribers:,} readers, {arguments.papers:,} papers; concurrency "
        f"{arguments.concurrency} a process; rate limit {arguments.rate or 'none'}; "
        f"jitter {arguments.jitter_ms} ms, 5xx {arguments.error_rate:.0%}, "
        f"429 {arguments.rate_429:.0%}"
    )
    print(" ".join(title.rjust(width) for _, title, width, _ in COLUMNS), flush=True)
    for latency in (int(value) for value in arguments.latencies.split(",")):
        for workers in (int(value) for value in arguments.workers.split(",")):
            print_row(measure(arguments, latency=latency, workers=workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
