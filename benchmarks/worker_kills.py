"""Benchmark and fault run: workers SIGKILLed mid-send, recovered by the beat sweep alone.

What it runs
    The production shape on this machine: ``--workers`` Celery workers (solo pool) and
    ``celery beat`` (the database scheduler, with only the recovery sweep enabled, every
    ``--sweep-seconds``) on the real Redis and PostgreSQL, gunicorn serving the ESP
    webhooks, and anymail's Postmark backend pointed at ``benchmarks/fake_esp.py``
    (``--latency-ms``), which posts a Postmark ``Delivery`` event for every accepted message
    to ``/anymail/postmark/tracking/`` (``--events off``: none). The day's run is queued
    once, as beat queues it; then ``--kills`` workers are SIGKILLed while digests are
    being sent, each restarted at once. Nothing is rerun by hand.

What it reports
    Readers, kills, digests the ESP accepted (by recipient), lost (active readers the ESP
    never got a digest for), duplicates (recipients the ESP got twice or more), digests left
    in doubt ("unknown"), settled by events, resent once, and the seconds from the last kill
    until nothing was pending, sending or (with events) unknown.

Usage
    .venv/bin/python benchmarks/worker_kills.py \\
        --database-url postgres://postgres@127.0.0.1:5432/paper_digest_kills

``tests/reliability/test_worker_killed.py`` runs the same code at a small scale in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.fake_esp import FakeEsp, start_fake_esp  # noqa: E402

WEBHOOK_SECRET = "esp:kill-run-webhook-secret"
START_SECONDS = 60
SWEEP_TASK = "Recover stalled digest sending"

WORKER_COMMAND = [
    sys.executable, "-m", "celery", "-A", "digest_site", "worker", "--pool=solo",
    "--concurrency=1", "--prefetch-multiplier=1", "-l", "info",
    "--without-heartbeat", "--without-gossip", "--without-mingle",
]  # fmt: skip


@dataclass
class KillRun:
    """One run's shape. Minutes are short so that recovery shows within the run."""

    day: date
    readers: int
    kills: int = 3
    workers: int = 2
    events: bool = True
    latency_ms: int = 20
    concurrency: int = 64
    batch_size: int = 300
    stale_claim_minutes: float = 0.25
    stall_minutes: float = 0.25
    resend_minutes: float = 0.5
    sweep_seconds: int = 5
    settle_seconds: float = 600
    # Kill number k (from 0) once this share of the readers was sent, plus k times the step.
    first_kill_at: float = 0.05
    kill_step: float = 0.10


@dataclass
class KillResult:
    readers: int
    kills: int
    events: bool
    accepted: int
    lost: int
    duplicates: int
    in_doubt: int
    settled_by_events: int
    resent: int
    left_pending_or_sending: int
    seconds_to_settle: float
    statuses: dict[str, int]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """The run's processes, each logging to its own file under ``log_dir``."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.all: list[subprocess.Popen] = []

    def start(self, name: str, command: list[str], **extra_env: str) -> subprocess.Popen:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env={**self.env, **extra_env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.all.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.all:
            if process.poll() is None:
                process.terminate()
        for process in self.all:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tails(self, lines: int = 60) -> str:
        out = []
        for log in sorted(self.log_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {log.name} (last {len(tail)} lines) -----\n" + "\n".join(tail))
        return "\n".join(out)


def only_the_sweep_on_beat(every_seconds: int) -> None:
    """Beat runs the recovery sweep every ``every_seconds`` and nothing else (no ingest, no
    digest hour falling inside the run)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    for task in PeriodicTask.objects.exclude(name=SWEEP_TASK):
        task.enabled = False
        task.save()
    sweep, _ = PeriodicTask.objects.get_or_create(
        name=SWEEP_TASK, defaults={"task": "subscriptions.tasks.recover_sending", "interval": every}
    )
    sweep.task, sweep.interval, sweep.crontab, sweep.enabled = (
        "subscriptions.tasks.recover_sending",
        every,
        None,
        True,
    )
    sweep.save()


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {seconds:.0f} s waiting {what}")
        time.sleep(0.05)


def run(
    config: KillRun,
    *,
    database_url: str,
    redis_url: str,
    log_dir: Path,
    broker_url: str | None = None,
) -> KillResult:
    """Run the day with kills; this process's Django must be on ``database_url``, with the
    readers and papers in place and no digest of the day yet. Redis is the cache (and the
    broker unless ``broker_url`` names another, such as RabbitMQ)."""
    import redis
    from django.db.models import Count

    from digest_site.celery import app
    from subscriptions.models import Digest, DigestBatch, Subscriber
    from subscriptions.tasks import send_digests

    broker_url = broker_url or redis_url
    redis.Redis.from_url(redis_url).flushdb()
    broker = app.connection_for_write(broker_url)
    _purge(broker)
    only_the_sweep_on_beat(config.sweep_seconds)
    web_port = _free_port()
    events_url = ""
    if config.events:
        events_url = f"http://{WEBHOOK_SECRET}@127.0.0.1:{web_port}/anymail/postmark/tracking/"
    period = config.day.isoformat()
    digests = Digest.objects.filter(period=period)
    active = set(
        Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).values_list("email", flat=True)
    )
    with start_fake_esp(
        latency_ms=config.latency_ms,
        jitter_ms=config.latency_ms // 4,
        events_url=events_url,
        keep_messages=config.readers * 3,
    ) as esp:
        env = {
            **os.environ,
            **esp.environ(),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "BROKER_URL": broker_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY", "kill-run-only-not-a-secret"),
            "DJANGO_SETTINGS_MODULE": "digest_site.settings",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DIGEST_BATCH_SIZE": str(config.batch_size),
            "DIGEST_SEND_CONCURRENCY": str(config.concurrency),
            "DIGEST_STALE_CLAIM_MINUTES": str(config.stale_claim_minutes),
            "DIGEST_STALL_MINUTES": str(config.stall_minutes),
            "DIGEST_UNKNOWN_RESEND_MINUTES": str(config.resend_minutes if config.events else 0),
            "DIGEST_RETRY_BASE_SECONDS": "1",
        }
        env.pop("DEBUG", None)
        processes = Processes(log_dir, env)
        try:
            if config.events:
                processes.start(
                    "web",
                    [sys.executable, "-m", "gunicorn", "digest_site.wsgi", "-w", "2",
                     "-b", f"127.0.0.1:{web_port}", "--access-logfile", "-"],
                )  # fmt: skip
            processes.start(
                "beat",
                [sys.executable, "-m", "celery", "-A", "digest_site", "beat", "-l", "info",
                 "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                 "--pidfile", str(log_dir / "beat.pid")],
            )  # fmt: skip
            workers = [
                processes.start(f"worker{n}", [*WORKER_COMMAND, "-n", f"kill{n}@%h"])
                for n in range(config.workers)
            ]
            _wait_until_ready(log_dir, [f"worker{n}" for n in range(len(workers))])
            _queue(send_digests, broker, "daily", period)  # what beat does at the digest hour
            last_kill = _kill_while_sending(config, workers, processes, digests)

            def settled() -> bool:
                left = {Digest.Status.PENDING, Digest.Status.SENDING}
                if config.events:
                    left.add(Digest.Status.UNKNOWN)
                batches_open = DigestBatch.objects.filter(
                    run__period=period, done_at__isnull=True
                ).exists()
                return not (batches_open or digests.filter(status__in=left).exists())

            wait_for(settled, seconds=config.settle_seconds, what="for the run to settle")
            seconds_to_settle = time.monotonic() - last_kill
            wait_for(lambda: not esp.stats()["events_pending"], seconds=60, what="for events to go")
            time.sleep(1)  # the last events' requests answered
        except BaseException:
            print(processes.tails(), file=sys.stderr)
            raise
        finally:
            processes.stop_all()
            _purge(broker)  # what the sweep queued for nothing, and the old messages
            broker.release()
        accepted = _recipients(esp)
    statuses = dict(
        digests.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    expected = set(
        digests.exclude(status=Digest.Status.SKIPPED).values_list("subscriber__email", flat=True)
    )
    return KillResult(
        readers=config.readers,
        kills=config.kills,
        events=config.events,
        accepted=len(accepted),
        lost=len(expected - set(accepted)),
        duplicates=sum(1 for n in accepted.values() if n > 1),
        in_doubt=statuses.get(Digest.Status.UNKNOWN, 0),
        settled_by_events=digests.filter(settled_by_event=True).count(),
        resent=digests.filter(resent_at__isnull=False).count(),
        left_pending_or_sending=digests.filter(
            status__in=(Digest.Status.PENDING, Digest.Status.SENDING)
        ).count(),
        seconds_to_settle=seconds_to_settle,
        statuses=statuses | {"active readers without a digest": len(active - expected)},
    )


def _queue(task: Any, broker: Any, *args: Any) -> None:
    """Put the task on ``broker``, also from a test process that runs tasks in-process."""
    from digest_site.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        task.apply_async(args, connection=broker)
    finally:
        app.conf.task_always_eager = eager


def _purge(broker: Any) -> None:
    """Empty the default queue (messages a run before this one left)."""
    from digest_site.celery import app

    app.control.purge(connection=broker)


def _wait_until_ready(log_dir: Path, names: list[str]) -> None:
    """Until each worker says it is ready (consuming), whatever the broker: a ping over
    RabbitMQ's reply queues can take longer to set up than a worker to start."""

    def ready() -> bool:
        return all(
            " ready." in (log_dir / f"{name}.log").read_text(errors="replace") for name in names
        )

    wait_for(ready, seconds=START_SECONDS, what=f"for {', '.join(names)} to be ready")


def _kill_while_sending(
    config: KillRun, workers: list[subprocess.Popen], processes: Processes, digests: Any
) -> float:
    """SIGKILL a worker (in turn) while digests are being sent, ``config.kills`` times, each
    restarted at once; the moment of the last kill."""
    from subscriptions.models import Digest

    last = time.monotonic()
    for kill in range(config.kills):
        share = config.first_kill_at + kill * config.kill_step
        wanted = int(config.readers * share)

        def mid_send(wanted: int = wanted) -> bool:
            sent = digests.filter(status=Digest.Status.SENT).count()
            return sent >= wanted and digests.filter(status=Digest.Status.SENDING).exists()

        wait_for(mid_send, seconds=START_SECONDS * 2, what=f"for kill {kill + 1}'s moment")
        n = kill % len(workers)
        os.kill(workers[n].pid, signal.SIGKILL)
        workers[n].wait()
        last = time.monotonic()
        workers[n] = processes.start(f"worker{n}", [*WORKER_COMMAND, "-n", f"kill{n}-{kill}@%h"])
    return last


def _recipients(esp: FakeEsp) -> dict[str, int]:
    """Digests the ESP accepted, by recipient (confirmations and the like excluded)."""
    counts: dict[str, int] = {}
    for message in esp.messages():
        if "digest_id" not in (message.get("Metadata") or {}):
            continue
        for recipient in message["recipients"]:
            counts[recipient.lower()] = counts.get(recipient.lower(), 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--readers", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--events", choices=("on", "off", "both"), default="both")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=300)
    arguments = parser.parse_args()
    os.environ["DATABASE_URL"] = arguments.database_url
    os.environ["REDIS_URL"] = arguments.redis_url
    os.environ.setdefault("SECRET_KEY", "kill-run-only-not-a-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks import daily_run
    from benchmarks.seed_papers import fill
    from subscriptions.models import DigestRun, Subscriber

    call_command("migrate", verbosity=0)
    fill(papers=2000, per_day=2000, last_day=daily_run.DAY, tag=True)
    rows = []
    for events in {"on": [True], "off": [False], "both": [True, False]}[arguments.events]:
        DigestRun.objects.all().delete()
        Subscriber.objects.all().delete()  # and their digests
        daily_run.make_subscribers(arguments.readers)
        config = KillRun(
            day=daily_run.DAY,
            readers=arguments.readers,
            kills=arguments.kills,
            events=events,
            latency_ms=arguments.latency_ms,
            concurrency=arguments.concurrency,
            batch_size=arguments.batch_size,
        )
        with tempfile.TemporaryDirectory(prefix="worker_kills_") as name:
            result = run(
                config,
                database_url=arguments.database_url,
                redis_url=arguments.redis_url,
                log_dir=Path(name),
            )
        rows.append(result)
        print(json.dumps(asdict(result)), flush=True)
    print(
        "\n| events | readers | kills | accepted | lost | duplicates | in doubt "
        "| settled by events | resent | left | seconds to settle |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {'on' if r.events else 'off'} | {r.readers:,} | {r.kills} | {r.accepted:,} "
            f"| {r.lost} | {r.duplicates} | {r.in_doubt} | {r.settled_by_events} "
            f"| {r.resent} | {r.left_pending_or_sending} | {r.seconds_to_settle:.0f} |"
        )


if __name__ == "__main__":
    main()
