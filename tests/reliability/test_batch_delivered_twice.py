"""The same digest batch task delivered twice, both copies running at the same moment.

A broker redelivers a task whose worker looks dead (visibility timeout, a lost ack): two
workers then run ``process_batch`` for the same (day, frequency, first id, last id) at once.
On PostgreSQL, in two threads with their own connections: once while the digests are still
to be built, once with them built and both copies claiming the same digest at the same
moment (a third connection holds the digest's row lock until both copies wait on it, so the
collision happens on every run instead of now and then). Each subscriber must get one digest
and at most one email.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date

import pytest
from django.core import mail
from django.db import connection

from subscriptions.delivery.digests import build_digest_batch
from subscriptions.delivery.runs import process_batch
from subscriptions.models import Digest
from tests.reliability.services import make_readers

DAY = date(2025, 11, 6)
PERIOD = "2025-11-06"
PER_GROUP = 10
JOIN_SECONDS = 60
WAIT_FOR_COLLISION_SECONDS = 10


def deliver_twice_at_once(
    *, first_id: int, last_id: int, while_running: Callable[[], None] | None = None
) -> list:
    """Run the batch in two threads released together; their (BuildResult, SendReport)s."""
    start = threading.Barrier(2)
    results: list = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=10)
            results.append(
                process_batch(day=DAY, frequency="daily", first_id=first_id, last_id=last_id)
            )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=worker, name=f"copy-{n}") for n in (1, 2)]
    for thread in threads:
        thread.start()
    try:
        if while_running is not None:
            while_running()
    finally:
        for thread in threads:
            thread.join(timeout=JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a copy of the task hangs"
    assert not errors, f"a copy of the task failed: {errors!r}"
    return results


def raw_connection():
    """A new psycopg connection to the test database, outside Django's connection handling."""
    return connection.get_new_connection(connection.get_connection_params())


class RowLock:
    """Hold a digest's row lock from a third connection, like a slow transaction would."""

    def __init__(self, digest_id: int):
        self.holder = raw_connection()
        self.holder.autocommit = False
        with self.holder.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM subscriptions_digest WHERE id = %s FOR UPDATE", [digest_id]
            )
        self.waiting_seen = 0

    def release_when_both_wait(self) -> None:
        """Let go once both copies wait on the lock (or after a bound, whatever they do)."""
        watcher = raw_connection()
        watcher.autocommit = True
        try:
            deadline = time.monotonic() + WAIT_FOR_COLLISION_SECONDS
            while time.monotonic() < deadline:
                with watcher.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                    (self.waiting_seen,) = cursor.fetchone()
                if self.waiting_seen >= 2:
                    break
                time.sleep(0.01)
        finally:
            watcher.close()
            self.holder.commit()
            self.holder.close()


def check_each_once(subscribers, results) -> Counter[str]:
    ids = [subscriber.pk for subscriber in subscribers]
    digests = Digest.objects.filter(period=PERIOD, subscriber_id__in=ids)
    per_subscriber = Counter(digests.values_list("subscriber_id", flat=True))
    assert set(per_subscriber) == set(ids), "a subscriber has no digest"
    assert set(per_subscriber.values()) == {1}, f"two digests for one subscriber: {per_subscriber}"
    statuses = Counter(digests.values_list("status", flat=True))
    assert set(statuses) <= {"sent", "skipped"}, statuses
    addresses = {subscriber.email for subscriber in subscribers}
    received = Counter(a for message in mail.outbox for a in message.to if a in addresses)
    assert not {a: n for a, n in received.items() if n > 1}, f"duplicates: {received}"
    sent_to = set(
        digests.filter(status=Digest.Status.SENT).values_list("subscriber__email", flat=True)
    )
    assert set(received) == sent_to
    # The two copies' reports add up to what was sent and built, each counted once.
    assert sum(report.sent for _, report in results) == statuses["sent"]
    assert sum(built.built + built.empty for built, _ in results) <= len(ids)
    return statuses


@pytest.mark.redis  # needs PostgreSQL: the SQLite pass of CI deselects it with the Redis tests
@pytest.mark.django_db(transaction=True)
def test_a_batch_run_twice_at_once_sends_each_digest_once(postgresql, seeded, settings):
    # Each send takes a moment, so the two copies' sending really overlaps.
    settings.EMAIL_BACKEND = "tests.support.fault_backends.SlowTestBackend"
    groups = [make_readers(PER_GROUP, prefix=f"group{group}-reader") for group in (1, 2)]

    # 1. Both copies start before anything is built: they race to build, then to send.
    first = groups[0]
    results = deliver_twice_at_once(first_id=first[0].pk, last_id=first[-1].pk)
    statuses = check_each_once(first, results)
    assert statuses["sent"] >= 1, statuses

    # 2. Built already (the first delivery got that far): both copies claim the first
    # digest to send at the same moment, then race through the rest.
    second = groups[1]
    build_digest_batch(day=DAY, frequency="daily", first_id=second[0].pk, last_id=second[-1].pk)
    to_send = Digest.objects.filter(
        period=PERIOD, status=Digest.Status.PENDING, subscriber__in=second
    ).order_by("subscriber_id")
    lock = RowLock(to_send.values_list("pk", flat=True)[0])
    results = deliver_twice_at_once(
        first_id=second[0].pk, last_id=second[-1].pk, while_running=lock.release_when_both_wait
    )
    print(f"\ncopies waiting on the lock: {lock.waiting_seen}; sends per copy: ", end="")
    print([report.sent for _, report in results])
    statuses = check_each_once(second, results)
    assert statuses["sent"] >= 1, statuses
