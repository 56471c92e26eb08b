"""A real Celery worker, killed with SIGKILL mid-batch, and restarted: nobody gets two digests.

The worker runs as a separate process against the real Redis broker and the PostgreSQL test
database, sending through a slow .eml backend (``tests.support.slow_backend``) so that a
batch takes long enough to be killed in the middle. Each restart triggers the run again (a
rerun is the designed recovery); at the end the sweep marks what the dead workers left
"sending" as "unknown", and we count the .eml files each address received.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from email import policy
from email.utils import parseaddr
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from digest_site.celery import app as celery_app
from subscriptions.delivery.sending import mark_stale_claims_unknown
from subscriptions.models import Digest, Subscriber
from subscriptions.tasks import send_digests
from tests.reliability.services import WORKER_COMMAND, make_readers, worker_env

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = "2025-11-06"  # the day the seed's papers are featured on
SUBSCRIBERS = 40
BATCH_SIZE = 10
# Digests claimed (and recorded) together: a kill leaves at most this many "unknown".
CHUNK_SIZE = 3
KILLS = 3
# Which kill waits until the digest being sent is in the outbox (the others kill as soon as
# one is being sent, usually before its file is written).
KILL_AFTER_THE_FILE = 2
# Digests a worker must have sent (since it started) before it is killed.
SENDS_BEFORE_KILL = 3
# Generous: a busy 2-core CI machine starts a worker process slowly; a healthy run takes ~5 s.
PHASE_SECONDS = 90
STOP_SECONDS = 15


class Workers:
    """Celery worker processes, started one at a time, each logging to its own file."""

    def __init__(self, *, env: dict[str, str], logs: Path):
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = self.logs / f"worker-{len(self.started) + 1}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                WORKER_COMMAND,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        """Warm shutdown (the task in hand finishes); SIGKILL if it takes too long."""
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # in case it was left frozen
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)

    def stop_all(self) -> None:
        for process in self.started:
            self.stop(process)

    def print_logs(self, lines: int = 150) -> None:
        for log in sorted(self.logs.glob("worker-*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            print(f"----- {log.name} (last {len(tail)} lines) -----", *tail, sep="\n")


def wait_until(
    condition: Callable[[], bool], *, worker: subprocess.Popen, seconds: float, waiting_for: str
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert worker.poll() is None, f"the worker exited ({worker.returncode}) {waiting_for}"
        assert time.monotonic() < deadline, f"gave up after {seconds:.0f} s {waiting_for}"
        time.sleep(0.02)


def kill_when(
    condition: Callable[[], bool], *, worker: subprocess.Popen, seconds: float, waiting_for: str
) -> None:
    """SIGKILL the worker at a moment ``condition`` holds.

    When it seems to hold, the worker is frozen (SIGSTOP) and, once a statement it may have
    had in flight has reached the database, the condition is checked again: killed if it
    still holds, let go on (SIGCONT) if the worker moved on in between.
    """
    deadline = time.monotonic() + seconds
    while True:
        assert time.monotonic() < deadline, f"gave up after {seconds:.0f} s {waiting_for}"
        wait_until(
            condition,
            worker=worker,
            seconds=max(deadline - time.monotonic(), 0.1),
            waiting_for=waiting_for,
        )
        worker.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        if condition():
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=STOP_SECONDS)
            return
        worker.send_signal(signal.SIGCONT)


def digests_of_the_day():
    return Digest.objects.filter(period=DAY)


def sent_count() -> int:
    return digests_of_the_day().filter(status=Digest.Status.SENT).count()


def in_the_middle_of_a_batch(
    *, since: datetime, outbox: Path, after_the_file: bool
) -> Callable[[], bool]:
    """This worker has sent some digests, is sending a chunk now and its batch has more to go.

    With ``after_the_file``, one being sent is already in the outbox ("the ESP has it") but
    not yet recorded as sent: the case where sending it again would duplicate it.
    """
    first_id = Subscriber.objects.order_by("pk").values_list("pk", flat=True).first()
    sent_before = sent_count()

    def condition() -> bool:
        if sent_count() < sent_before + SENDS_BEFORE_KILL:
            return False
        days = digests_of_the_day()
        in_flight = days.filter(status=Digest.Status.SENDING, claimed_at__gte=since)
        for subscriber_id, address in in_flight.values_list("subscriber_id", "subscriber__email"):
            batch_end = first_id + ((subscriber_id - first_id) // BATCH_SIZE + 1) * BATCH_SIZE
            more_to_go = days.filter(
                status=Digest.Status.PENDING,
                subscriber_id__gt=subscriber_id,
                subscriber_id__lt=batch_end,
            ).exists()
            if more_to_go and (not after_the_file or files_per_address(outbox)[address]):
                return True
        return False

    return condition


def every_digest_built_and_none_pending() -> bool:
    days = digests_of_the_day()
    return days.count() == SUBSCRIBERS and not days.filter(status=Digest.Status.PENDING).exists()


def files_per_address(outbox: Path) -> Counter[str]:
    received: Counter[str] = Counter()
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        received[parseaddr(str(message["To"]))[1].lower()] += 1
    return received


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_and_restarted_sends_each_digest_once(
    redis_url, postgresql_database_url, seeded, tmp_path
):
    import redis

    # Tasks and unacknowledged messages left by earlier runs must not leak into this one.
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    make_readers(SUBSCRIBERS)
    var_dir = tmp_path / "var"
    outbox = var_dir / "outbox"
    workers = Workers(
        env=worker_env(
            database_url=postgresql_database_url,
            redis_url=redis_url,
            var_dir=var_dir,
            email_backend="tests.support.slow_backend.SlowEmlBackend",
            DIGEST_BATCH_SIZE=str(BATCH_SIZE),
            DIGEST_SEND_CHUNK_SIZE=str(CHUNK_SIZE),
            # Two in flight: the next chunk is claimed only while fewer are waiting, so a
            # batch still has digests pending while one is being sent.
            DIGEST_SEND_CONCURRENCY="2",
            CELERY_VISIBILITY_TIMEOUT="10",
        ),
        logs=tmp_path,
    )
    celery_app.conf.task_always_eager = False
    started = time.monotonic()
    try:
        send_digests.delay("daily", DAY)
        for kill in range(1, KILLS + 1):
            since = timezone.now()
            worker = workers.start()
            if kill > 1:
                send_digests.delay("daily", DAY)  # the next run picks up what is left
            after_the_file = kill == KILL_AFTER_THE_FILE
            kill_when(
                in_the_middle_of_a_batch(since=since, outbox=outbox, after_the_file=after_the_file),
                worker=worker,
                seconds=PHASE_SECONDS,
                waiting_for=f"for worker {kill} to be in the middle of a batch",
            )
        worker = workers.start()
        send_digests.delay("daily", DAY)
        wait_until(
            every_digest_built_and_none_pending,
            worker=worker,
            seconds=PHASE_SECONDS,
            waiting_for="for the last worker to build and send every digest",
        )
        # The worker finishes the task in hand, so nothing is "sending" except what the
        # killed workers left.
        Workers.stop(worker)
        assert worker.returncode == 0, f"the last worker exited with {worker.returncode}"
        # The sweep, STALE_CLAIM_MINUTES later.
        digests_of_the_day().filter(status=Digest.Status.SENDING).update(
            claimed_at=F("claimed_at")
            - timedelta(minutes=settings.DIGESTS["STALE_CLAIM_MINUTES"] + 1)
        )
        marked_unknown = mark_stale_claims_unknown()
    except BaseException:
        workers.print_logs()
        raise
    finally:
        workers.stop_all()
        broker.flushdb()
        broker.close()
    elapsed = time.monotonic() - started

    received = files_per_address(outbox)
    statuses = Counter(digests_of_the_day().values_list("status", flat=True))
    unknown_in_outbox = sum(
        received[address]
        for address in digests_of_the_day()
        .filter(status=Digest.Status.UNKNOWN)
        .values_list("subscriber__email", flat=True)
    )
    print(
        f"\n{SUBSCRIBERS} subscribers, {KILLS} SIGKILLs, {elapsed:.1f} s: "
        f"sent={statuses['sent']} unknown={statuses['unknown']} "
        f"(of which in the outbox: {unknown_in_outbox}) skipped={statuses['skipped']} "
        f"files={sum(received.values())}"
    )

    # Every subscriber has exactly one digest of the day.
    per_subscriber = Counter(digests_of_the_day().values_list("subscriber_id", flat=True))
    assert set(per_subscriber) == set(Subscriber.objects.values_list("pk", flat=True))
    assert set(per_subscriber.values()) == {1}
    # Nobody received two emails.
    assert not {a: n for a, n in received.items() if n > 1}, f"duplicates: {received}"
    # Every digest recorded as sent is in the outbox, once.
    sent_to = digests_of_the_day().filter(status=Digest.Status.SENT)
    missing = [a for a in sent_to.values_list("subscriber__email", flat=True) if not received[a]]
    assert not missing, f"recorded as sent but not in the outbox: {missing}"
    # What was not sent is "unknown" (the chunk each kill interrupted) or "skipped".
    assert set(statuses) <= {"sent", "unknown", "skipped"}, statuses
    # Each kill left the chunk it was sending "sending"; the sweep made them "unknown". The
    # rest of the killed workers' batches stayed pending and went out on the rerun.
    assert statuses["unknown"] == marked_unknown, (statuses, marked_unknown)
    assert KILLS <= statuses["unknown"] <= KILLS * CHUNK_SIZE, statuses
    assert statuses["sent"] >= SUBSCRIBERS - KILLS * CHUNK_SIZE, statuses
    # Including one the ESP already had: sending it again would have sent it twice.
    assert unknown_in_outbox >= 1, "no kill landed between writing a digest and recording it"
    # Every email in the outbox went to one of our subscribers.
    assert set(received) <= set(Subscriber.objects.values_list("email", flat=True))
