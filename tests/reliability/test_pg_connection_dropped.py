"""The PostgreSQL connection drops in the middle of sending a day's digests.

The ESP accepts a digest, then the run's database connection is terminated (as a failover
or an administrator would) before the chunk it was in is recorded as sent. The run records
it over a new connection: what the ESP took is "sent", what was not tried is pending, and
nothing is left in doubt. Rerunning sends the pending ones; nobody gets two digests.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.core import mail
from django.db import InterfaceError, OperationalError, connection

from subscriptions.delivery.digests import build_digest_batch
from subscriptions.delivery.runs import run_in_process, start_run
from subscriptions.delivery.sending import mark_stale_claims_unknown
from subscriptions.models import Digest, Subscriber
from tests.reliability.services import make_readers
from tests.support.fault_backends import DroppingConnectionBackend

DAY = date(2025, 11, 6)
PERIOD = "2025-11-06"
SUBSCRIBERS = 15
BATCH_SIZE = 5
CONCURRENCY = 3
# The connection drops right after the ESP accepted this many digests (in the second batch).
DROP_AFTER = 7


def statuses() -> Counter[str]:
    return Counter(Digest.objects.filter(period=PERIOD).values_list("status", flat=True))


def emails_per_address() -> Counter[str]:
    return Counter(address for message in mail.outbox for address in message.to)


def addresses(status: str) -> set[str]:
    digests = Digest.objects.filter(period=PERIOD, status=status)
    return set(digests.values_list("subscriber__email", flat=True))


@pytest.fixture
def dropping_backend(settings):
    settings.EMAIL_BACKEND = "tests.support.fault_backends.DroppingConnectionBackend"
    yield DroppingConnectionBackend
    DroppingConnectionBackend.disarm()


@pytest.mark.redis  # needs PostgreSQL: the SQLite pass of CI deselects it with the Redis tests
@pytest.mark.django_db(transaction=True)
def test_a_dropped_database_connection_mid_run_sends_nobody_two_digests(
    postgresql, seeded, settings, dropping_backend
):
    settings.DIGESTS = {
        **settings.DIGESTS,
        "BATCH_SIZE": BATCH_SIZE,
        "SEND_CONCURRENCY": CONCURRENCY,
    }
    make_readers(SUBSCRIBERS)
    for first_id, last_id in start_run(day=DAY, frequency="daily"):
        build_digest_batch(day=DAY, frequency="daily", first_id=first_id, last_id=last_id)
    built = statuses()
    assert built["pending"] >= DROP_AFTER + 2, built

    dropping_backend.arm(drop_after=DROP_AFTER)
    try:
        run_in_process(day=DAY, frequency="daily")
    except (OperationalError, InterfaceError) as error:
        # The drop may also meet the run at a claim or a build, which stop it: the chunks
        # already claimed are recorded first, over a new connection.
        print(f"\nthe run stopped with {type(error).__name__}: {error}".rstrip())
        connection.close()  # what a worker does with a broken connection before the next task
    assert dropping_backend.dropped_pid is not None

    # Nothing half-done and nothing in doubt: recorded sent == delivered, once each.
    after_drop = statuses()
    received = emails_per_address()
    assert after_drop["sent"] >= DROP_AFTER, after_drop
    assert set(after_drop) <= {"sent", "pending", "skipped"}, after_drop
    assert set(received) == addresses("sent")
    assert set(received.values()) == {1}

    # The rerun sends what is pending, and only that.
    totals = run_in_process(day=DAY, frequency="daily")
    assert totals.sent == after_drop["pending"]
    assert (totals.failed, totals.retry_later, totals.built) == (0, 0, 0)
    assert mark_stale_claims_unknown() == 0
    assert run_in_process(day=DAY, frequency="daily").sent == 0

    final = statuses()
    received = emails_per_address()
    per_subscriber = Counter(
        Digest.objects.filter(period=PERIOD).values_list("subscriber_id", flat=True)
    )
    assert set(per_subscriber) == set(Subscriber.objects.values_list("pk", flat=True))
    assert set(per_subscriber.values()) == {1}
    assert set(final) <= {"sent", "skipped"}, final
    assert final["sent"] == built["pending"] and final["skipped"] == built["skipped"], final
    assert set(received.values()) == {1}, received
    assert set(received) == addresses("sent")
