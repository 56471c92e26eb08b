"""Benchmark: the real daily digest run, in one process, with every message serialised.

What it measures
    ``subscriptions.delivery.runs.run_in_process`` (the ``send_digests`` command's code:
    rank, build, render, send, record, batch by batch) for each ``--subscribers`` size, against
    ``--papers`` candidate papers made from the seed's real titles and abstracts
    (``benchmarks/seed_papers.py``), all featured on 2025-11-06. Subscribers follow 1 to 5
    topics and 0 to 5 keywords. The email backend fully serialises each message
    (``message.message().as_bytes()``) and discards it. Per stage it prints seconds, then
    digests/s, DB queries per 1,000 digests and peak RSS.

    ``--repeat N`` runs each size N times, each in a fresh process, and marks the run with the
    median total: a 1,000-subscriber run takes two seconds, and this machine's speed can
    drift by a third for a few seconds at a time.

    Each size runs in a fresh process, as a worker that has run before on a new day: an
    unmeasured run of ``--warm-up`` subscribers first imports the code, compiles the
    templates and opens the connections; then everything kept of the day's papers (the
    vectorised candidates, the stencils, short titles, word stems) is cleared, and the
    measured run starts. On PostgreSQL, the subscribers of the last size are truncated away
    and the new ones analysed before the run.

    With ``--celery-workers N`` the same day runs as in production instead: ``send_digests``
    (with ``--time-zones N``: readers spread over N zones an hour apart, and each zone's
    hourly ``send_due_digests`` run queued once the one before is out) is queued on a real
    Redis broker (a private database, ``--redis-url``, flushed before
    each size) and N ``celery worker`` processes (solo pool, one task at a time) build and
    send the batches, with the same serialising backend. The clock runs from queuing the
    task until every subscriber's digest is sent, skipped or failed (the database is polled
    every 0.2 s). It prints seconds, digests/s and the workers' peak RSS (VmHWM), the
    largest and the sum; stages and queries are not counted. The workers are started afresh
    for each size and need PostgreSQL.

    Stages are timed by wrapping the functions the run calls: vectorising the candidate
    papers, once a run (``vectorise_candidates``), ranking (``rank_papers_for``), building
    (the rest of ``build_digest_batch``), rendering
    (``digest_contents``, which loads what the digests show, and ``digest_email``),
    serialising (the backend) and recording (the rest of sending: loading the batch's
    digests, claims and status updates).

How to run (from the repository root)
    .venv/bin/python benchmarks/daily_run.py                                  # SQLite, 1k and 10k
    .venv/bin/python benchmarks/daily_run.py --subscribers 1000,10000,100000 \\
        --database-url postgres://postgres@127.0.0.1:5432/paper_digest_daily
    .venv/bin/python benchmarks/daily_run.py --subscribers 1000,10000 --celery-workers 2 \\
        --database-url postgres://postgres@127.0.0.1:5432/paper_digest_celery
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.core.mail.backends.base import BaseEmailBackend

REPO_ROOT = Path(__file__).resolve().parent.parent
DAY = date(2025, 11, 6)
KEYWORDS = [
    "model merging", "LoRA", "diffusion", "face recognition", "reward model", "retrieval",
    "segmentation", "distillation", "few-shot", "mixture-of-experts", "click-through rate",
    "point cloud", "vision-language", "knowledge distillation", "domain adaptation",
]  # fmt: skip

# As the reliability tests start workers (tests/reliability/services.py): one task at a
# time per process, nothing between workers; the name (-n) is added per worker.
WORKER_COMMAND = [
    sys.executable, "-m", "celery", "-A", "digest_site", "worker", "--pool=solo",
    "--concurrency=1", "--prefetch-multiplier=1", "-l", "warning",
    "--without-heartbeat", "--without-gossip", "--without-mingle",
]  # fmt: skip
WORKER_START_SECONDS = 60
WORKER_STOP_SECONDS = 10
# Give up when no digest has been finished for this long.
PATIENCE_SECONDS = 120

timings: dict[str, float] = defaultdict(float)


class SerialisingBackend(BaseEmailBackend):
    """Serialises every message as for SMTP, then drops it."""

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


def time_zones(count: int) -> list[str]:
    """``count`` (at most 24) IANA zones a whole hour apart from UTC-11 on, without DST."""
    offsets = range(-11, -11 + min(count, 24))
    # Etc/GMT+N is N hours *behind* UTC (POSIX signs).
    return [f"Etc/GMT{-offset:+d}" if offset else "UTC" for offset in offsets]


def make_subscribers(count: int, zones: Sequence[str] = ()) -> None:
    """``count`` active readers; with ``zones``, spread over them in turn (07:00 local)."""
    from django.db import connection

    from papers.models import Topic
    from subscriptions.models import Digest, Subscriber

    if connection.vendor == "postgresql":
        # No dead rows of the last size left for autovacuum to clear during this one.
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Subscriber._meta.db_table} CASCADE")
    else:
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
                **({"time_zone": zones[n % len(zones)]} if zones else {}),
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
    if connection.vendor == "postgresql":  # statistics, as a database in use has them
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Subscriber._meta.db_table}, {Through._meta.db_table}")


@contextlib.contextmanager
def counting_queries() -> Iterator[list[int]]:
    """Count the database statements made inside: the count is the list's one item."""
    from django.db import connection

    from subscriptions.delivery import digests

    counted = [0]

    def count_queries(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        counted[0] += 1
        return execute(sql, params, many, context)

    # PostgreSQL's COPY of digest items does not pass through execute(): one statement each.
    insert_items = digests._insert_items

    def count_copy(rows):  # type: ignore[no-untyped-def]
        counted[0] += connection.vendor == "postgresql"
        return insert_items(rows)

    digests._insert_items = count_copy
    try:
        with connection.execute_wrapper(count_queries):
            yield counted
    finally:
        digests._insert_items = insert_items


def run(count: int, warm_up: int) -> dict[str, float]:
    from subscriptions.delivery import caches, runs

    if warm_up:
        # A worker that has run before: code imported, templates compiled, connections open.
        make_subscribers(warm_up)
        runs.run_in_process(day=DAY, frequency="daily")
    make_subscribers(count)
    caches.forget_day()
    timings.clear()
    started = time.perf_counter()
    with counting_queries() as counted:
        totals = runs.run_in_process(day=DAY, frequency="daily")
    total = time.perf_counter() - started
    [queries] = counted
    sent = max(totals.sent, 1)
    return {
        "subscribers": count,
        "sent": totals.sent,
        "rank": timings["rank"],
        "vectorise": timings["vectorise"],
        "build": timings["build"] - timings["rank"] - timings["vectorise"],
        "render": timings["render"],
        "serialise": timings["serialise"],
        "record": timings["send"] - timings["render"] - timings["serialise"],
        "total": total,
        "per_s": totals.sent / total,
        "ms_per_digest": 1000 * total / sent,
        "queries_per_1000": 1000 * queries / sent,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def start_workers(
    count: int, log_dir: Path, environ: Mapping[str, str] | None = None
) -> list[subprocess.Popen]:
    """``count`` worker processes on this process's database and broker, with ``environ``
    (default: this one's, sending through the serialising backend)."""
    # cwd: ``python -m`` puts the repository root on the path, so the workers can import
    # this module's backend (importing it runs nothing).
    env = dict(
        environ or {**os.environ, "EMAIL_BACKEND": "benchmarks.daily_run.SerialisingBackend"}
    )
    workers = []
    for n in range(count):
        with (log_dir / f"worker{n}.log").open("wb") as log:
            workers.append(
                subprocess.Popen(
                    [*WORKER_COMMAND, "-n", f"bench{n}@%h"],
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return workers


def check_workers(workers: list[subprocess.Popen], log_dir: Path) -> None:
    """Raise if a worker has exited or a task has failed (its batch would never finish)."""
    for n, worker in enumerate(workers):
        if worker.poll() is not None:
            raise RuntimeError(f"worker {n} exited ({worker.returncode})")
        if "raised unexpected" in (log_dir / f"worker{n}.log").read_text(errors="replace"):
            raise RuntimeError(f"a task failed on worker {n}")


def wait_until_ready(workers: list[subprocess.Popen], log_dir: Path) -> None:
    """Until every worker answers a ping."""
    from digest_site.celery import app

    deadline = time.monotonic() + WORKER_START_SECONDS
    while len(app.control.ping(timeout=0.5)) < len(workers):
        check_workers(workers, log_dir)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not answer within {WORKER_START_SECONDS} s")


def wait_until_finished(count: int, workers: list[subprocess.Popen], log_dir: Path) -> None:
    """Until ``count`` digests are built and none is pending or being sent."""
    from subscriptions.models import Digest

    finished = Digest.objects.exclude(status__in=[Digest.Status.PENDING, Digest.Status.SENDING])
    seen, last_progress = -1, time.monotonic()
    while (done := finished.count()) < count:
        check_workers(workers, log_dir)
        if done != seen:
            seen, last_progress = done, time.monotonic()
        elif time.monotonic() - last_progress > PATIENCE_SECONDS:
            raise RuntimeError(f"stuck at {done:,} of {count:,} digests for {PATIENCE_SECONDS} s")
        time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """Warm shutdown (SIGTERM); SIGKILL for any that takes too long."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def local_hour_ticks(zones: Sequence[str]) -> list[tuple[datetime, int]]:
    """(the hourly run at which its readers reach 07:00 on ``DAY``, the zone's index in
    ``zones``) for each zone, earliest first."""
    return sorted(
        (datetime.combine(DAY, dt_time(7), ZoneInfo(zone)), index)
        for index, zone in enumerate(zones)
    )


def run_on_workers(count: int, workers: int, redis_url: str, zones: int) -> dict[str, float]:
    import redis

    from subscriptions.models import Digest
    from subscriptions.tasks import send_digests

    redis.Redis.from_url(redis_url).flushdb()
    names = time_zones(zones) if zones else []
    make_subscribers(count, names)
    with tempfile.TemporaryDirectory(prefix="daily_run_workers_") as name:
        log_dir = Path(name)
        processes = start_workers(workers, log_dir)
        try:
            wait_until_ready(processes, log_dir)
            started = time.perf_counter()
            if names:
                from subscriptions.tasks import send_due_digests

                # Each zone's hourly run, as the beat hands them out over the day, without
                # the hour between: the next is queued as soon as the last is out (runs an
                # hour apart never overlap).
                out = 0
                for tick, zone in local_hour_ticks(names):
                    send_due_digests.delay(tick.isoformat())
                    out += len(range(zone, count, len(names)))  # make_subscribers' spread
                    wait_until_finished(out, processes, log_dir)
            else:
                send_digests.delay("daily", DAY.isoformat())
                wait_until_finished(count, processes, log_dir)
            total = time.perf_counter() - started
            rss = [peak_rss_mb(worker.pid) for worker in processes]
        except Exception:
            for log in sorted(log_dir.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-40:]
                print(f"----- {log.name} -----", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            stop_workers(processes)
    sent = Digest.objects.filter(status=Digest.Status.SENT).count()
    return {
        "subscribers": count,
        "sent": sent,
        "total": total,
        "per_s": sent / total,
        "rss_max_mb": max(rss),
        "rss_sum_mb": sum(rss),
    }


def report_on_workers(sizes: list[int], workers: int, redis_url: str, zones: int) -> int:
    spread = f"; readers over {zones} time zones, hourly runs" if zones else ""
    print(f"celery workers: {workers}; broker: {redis_url}{spread}")
    print(
        " ".join(f"{h:>11}" for h in ["subscribers", "sent", "total"]),
        f"{'digests/s':>10} {'RSS MB max':>10} {'RSS MB sum':>10}",
    )
    for size in sizes:
        row = run_on_workers(size, workers, redis_url, zones)
        print(
            f"{row['subscribers']:>11,} {row['sent']:>11,} {row['total']:>11,.2f}",
            f"{row['per_s']:>10,.0f} {row['rss_max_mb']:>10,.0f} {row['rss_sum_mb']:>10,.0f}",
            flush=True,
        )
    return 0


def embed_for_the_run(*, quiet: bool) -> None:
    """Give the papers and the subscribers' keywords their embeddings, as ingest and sign-up
    do (not timed; the day's run only reads them). Nothing to do once the database has them;
    nothing at all without the semantic extra (the run is then lexical, as before)."""
    try:
        from papers.embeddings import embed_unembedded_papers, store_phrases
    except ImportError:  # a checkout from before semantic ranking
        return
    started = time.perf_counter()
    papers = embed_unembedded_papers()
    phrases = store_phrases(KEYWORDS)
    if (papers or phrases) and not quiet:
        print(
            f"embedded {papers:,} papers and {phrases} keywords in "
            f"{time.perf_counter() - started:.1f} s (not counted)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1000,10000", help="comma-separated sizes")
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument(
        "--database-url", default="sqlite:////tmp/paper_digest_daily.sqlite3", help="database"
    )
    parser.add_argument(
        "--celery-workers", type=int, default=0, help="run on this many Celery workers"
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="broker for --celery-workers; this Redis database is flushed before each size",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=200,
        help="subscribers of an unmeasured run first, as on a worker that has run before (0: none)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each size this many times, each in a fresh process, and mark the median",
    )
    parser.add_argument(
        "--time-zones",
        type=int,
        default=0,
        help="with --celery-workers: spread the readers over this many time zones (at most "
        "24, an hour apart) and queue each zone's hourly run instead of one run for all",
    )
    parser.add_argument("--row-only", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.celery_workers and not arguments.database_url.startswith("postgres"):
        parser.error("--celery-workers needs a PostgreSQL --database-url")
    if arguments.time_zones and not arguments.celery_workers:
        parser.error("--time-zones goes with --celery-workers")
    os.environ["DATABASE_URL"] = arguments.database_url
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    # This module runs as __main__: the backend must be the one whose timings are printed.
    os.environ["EMAIL_BACKEND"] = f"{__name__}.SerialisingBackend"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
    if arguments.celery_workers:
        # Tasks go to this broker (not run eagerly); the workers inherit it.
        os.environ["REDIS_URL"] = os.environ["BROKER_URL"] = arguments.redis_url
        # The day measured starts with its first zone's hour: the hours before it belong to
        # the day before, whose runs are not part of it (they would be caught up, for the
        # same readers' previous local day, by the first hourly run).
        os.environ["DIGEST_CATCH_UP_HOURS"] = "0"
    sys.path.insert(0, str(REPO_ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks.seed_papers import fill
    from subscriptions.delivery import digests, runs, sending

    call_command("migrate", verbosity=0)
    with contextlib.redirect_stdout(io.StringIO()) if arguments.row_only else nullcontext():
        fill(papers=arguments.papers, per_day=arguments.papers, last_day=DAY, tag=True)
    sizes = [int(s) for s in arguments.subscribers.split(",")]
    embed_for_the_run(quiet=arguments.row_only)

    from django.db import connection

    if not arguments.row_only:
        print(f"database: {connection.vendor}; papers: {arguments.papers}; day: {DAY}")
    if arguments.celery_workers:
        return report_on_workers(
            sizes, arguments.celery_workers, arguments.redis_url, arguments.time_zones
        )

    digests.vectorise_candidates = timed("vectorise", digests.vectorise_candidates)
    digests.rank_papers_for = timed("rank", digests.rank_papers_for)
    runs.build_digest_batch = timed("build", runs.build_digest_batch)
    runs.send_pending_digests = timed("send", runs.send_pending_digests)
    sending.digest_contents = timed("render", sending.digest_contents)
    sending.digest_email = timed("render", sending.digest_email)

    header = ["subscribers", "sent", "vectorise", "rank", "build", "render", "serialise", "record"]
    header.append("total")
    if not arguments.row_only:
        columns = f"{'digests/s':>10} {'ms/digest':>9} {'q/1000':>8} {'RSS MB':>8}"
        print(" ".join(f"{h:>11}" for h in header), columns, flush=True)
    if len(sizes) > 1 or arguments.repeat > 1:
        # Each size in a fresh process, as each day's run starts with nothing cached (the
        # stencils, the candidates) and its own peak memory.
        for size in sizes:
            child = [*sys.argv[:1], *(argv or sys.argv[1:]), "--subscribers", str(size)]
            command = [sys.executable, *child, "--repeat", "1", "--row-only"]
            rows = []
            for _ in range(arguments.repeat):
                done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
                print(done.stdout, end="", flush=True)
                rows.append(done.stdout.rstrip("\n"))
            if len(rows) > 1:  # the run with the median total, as the size's figure
                by_total = sorted(
                    rows, key=lambda r: float(r.split()[header.index("total")].replace(",", ""))
                )
                print(f"{by_total[len(rows) // 2]}  <- median of {len(rows)}", flush=True)
        return 0
    row = run(sizes[0], arguments.warm_up)
    cells = [f"{row[h]:>11,.2f}" if isinstance(row[h], float) else f"{row[h]:>11,}" for h in header]
    print(
        " ".join(cells),
        f"{row['per_s']:>10,.0f} {row['ms_per_digest']:>9,.2f} {row['queries_per_1000']:>8,.0f}",
        f"{row['rss_mb']:>8,.0f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
