"""Redis stops in the middle of a day's digest run, then comes back; the run is started again.

A real worker (separate process, solo pool) takes its tasks from a private redis-server and
sends through a slow .eml backend. Redis is stopped while the worker is in the middle of the
run: the batches still queued are lost with it (no persistence). While it is down, nothing
may be recorded as sent that is not in the outbox. When Redis is back, the worker reconnects
and the run is started again (what the next beat, or an operator, does): every subscriber
then has their digest exactly once.
"""

from __future__ import annotations

import email
import time
from collections import Counter
from email import policy
from email.utils import parseaddr
from pathlib import Path

import pytest

from subscriptions.models import Digest, Subscriber
from subscriptions.tasks import send_digests

from .services import Worker, celery_and_cache_on, make_readers, wait_until, worker_env

DAY = "2025-11-06"
SUBSCRIBERS = 30
BATCH_SIZE = 5
START_SECONDS = 30  # the worker starting and getting into the second batch
QUIET_SECONDS = 1.0  # nothing moving for this long: the worker has stopped sending
SETTLE_SECONDS = 15
RECOVER_SECONDS = 60  # reconnecting (backoff 2, 4, 6 s...) and sending the rest


def digests():
    return Digest.objects.filter(period=DAY)


def statuses() -> Counter[str]:
    return Counter(digests().values_list("status", flat=True))


def addresses(status: str) -> set[str]:
    return set(digests().filter(status=status).values_list("subscriber__email", flat=True))


def files_per_address(outbox: Path) -> Counter[str]:
    received: Counter[str] = Counter()
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        received[parseaddr(str(message["To"]))[1].lower()] += 1
    return received


class Quiet:
    """True once no digest is being sent and the outbox has not grown for QUIET_SECONDS."""

    def __init__(self, outbox: Path):
        self.outbox = outbox
        self.last = None
        self.since = time.monotonic()

    def __call__(self) -> bool:
        state = (statuses(), len(list(self.outbox.glob("*.eml"))))
        if state != self.last:
            self.last, self.since = state, time.monotonic()
            return False
        return not state[0]["sending"] and time.monotonic() - self.since >= QUIET_SECONDS


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_redis_stopping_mid_run_loses_no_digest_and_sends_none_twice(
    postgresql_database_url, private_redis, seeded, tmp_path
):
    make_readers(SUBSCRIBERS)
    var_dir = tmp_path / "var"
    outbox = var_dir / "outbox"
    env = worker_env(
        database_url=postgresql_database_url,
        redis_url=private_redis.url,
        var_dir=var_dir,
        email_backend="tests.support.slow_backend.SlowEmlBackend",
        DIGEST_BATCH_SIZE=str(BATCH_SIZE),
    )
    started = time.monotonic()
    worker = Worker(env=env, log=tmp_path / "worker.log")
    try:
        with celery_and_cache_on(private_redis.url):
            send_digests.delay("daily", DAY)
            wait_until(
                lambda: statuses()["sent"] >= BATCH_SIZE + 2,
                seconds=START_SECONDS,
                waiting_for="for the worker to be in its second batch",
                worker=worker,
            )
            private_redis.stop()
            stopped_at = time.monotonic()
            # The worker finishes the batch in hand (it needs only the database and the ESP).
            wait_until(
                Quiet(outbox),
                seconds=SETTLE_SECONDS,
                waiting_for="for the worker to stop sending with Redis down",
                worker=worker,
            )
            during = statuses()
            received = files_per_address(outbox)
            # Nothing recorded as sent that is not in the outbox, nothing sent twice, and
            # nothing in the outbox that is not recorded (no digest was left in flight).
            assert set(received) == addresses("sent"), (during, received)
            assert set(received.values()) == {1}, received
            assert set(during) <= {"sent", "pending", "skipped"}, during
            # The outage did stop the run part-way: some subscribers have no digest yet.
            not_reached = SUBSCRIBERS - digests().count() + during["pending"]
            assert not_reached > 0, during
            assert worker.alive(), "the worker died with Redis"

            private_redis.start()
            restarted_at = time.monotonic()
            send_digests.delay("daily", DAY)  # the next run
            wait_until(
                lambda: (
                    digests().count() == SUBSCRIBERS
                    and not {"pending", "sending"} & set(statuses())
                ),
                seconds=RECOVER_SECONDS,
                waiting_for="for the worker to reconnect and send the rest",
                worker=worker,
            )
        returncode = worker.stop()
        assert returncode == 0, f"the worker exited with {returncode}"
    except BaseException:
        worker.print_log()
        raise
    finally:
        worker.stop()
    finished = time.monotonic()

    final = statuses()
    received = files_per_address(outbox)
    print(
        f"\nRedis stopped {stopped_at - started:.1f} s in, with {during['sent']} sent and "
        f"{not_reached} not reached; back {restarted_at - stopped_at:.1f} s later; all done "
        f"{finished - restarted_at:.1f} s after that: {dict(final)}"
    )
    per_subscriber = Counter(digests().values_list("subscriber_id", flat=True))
    assert set(per_subscriber) == set(Subscriber.objects.values_list("pk", flat=True))
    assert set(per_subscriber.values()) == {1}
    assert set(final) <= {"sent", "skipped"}, final
    # One .eml per subscriber with something to read, none for the others.
    assert set(received.values()) == {1}, received
    assert set(received) == addresses("sent")
    assert sum(received.values()) == final["sent"]
