"""The PostgreSQL connection drops in the middle of sending a day's digests.

The ESP accepts a digest, then the database connection is terminated (as a failover or an
administrator would) before the chunk of digests it was in can be recorded as sent. The run
must stop with a database error and leave nothing half-done: what was recorded sent was
delivered, what was not reached is still pending, and the chunk in flight stays "sending".
Rerunning sends the pending ones; the chunk in flight becomes "unknown" (the ESP has them)
and is never sent twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F

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
CHUNK_SIZE = 3
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
    settings.DIGESTS = {**settings.DIGESTS, "BATCH_SIZE": BATCH_SIZE, "SEND_CHUNK_SIZE": CHUNK_SIZE}
    make_readers(SUBSCRIBERS)
    for first_id, last_id in start_run(day=DAY, frequency="daily"):
        build_digest_batch(day=DAY, frequency="daily", first_id=first_id, last_id=last_id)
    built = statuses()
    assert built["pending"] >= DROP_AFTER + 2, built

    dropping_backend.arm(drop_after=DROP_AFTER)
    with pytest.raises((OperationalError, InterfaceError)) as raised:
        run_in_process(day=DAY, frequency="daily")
    assert dropping_backend.dropped_pid is not None
    print(f"\nthe run stopped with {raised.type.__name__}: {raised.value}".rstrip())
    connection.close()  # what a worker does with a broken connection before the next task

    # Nothing half-done: recorded sent == delivered, except the chunk in flight ("sending"),
    # whose digests the ESP all took before the chunk could be recorded.
    after_drop = statuses()
    received = emails_per_address()
    in_flight = after_drop["sending"]
    assert 1 <= in_flight <= CHUNK_SIZE, after_drop
    assert after_drop["sent"] < DROP_AFTER <= after_drop["sent"] + in_flight, after_drop
    assert set(after_drop) <= {"sent", "sending", "pending", "skipped"}, after_drop
    assert after_drop["pending"] == built["pending"] - after_drop["sent"] - in_flight, after_drop
    assert set(received) == addresses("sent") | addresses("sending")
    assert set(received.values()) == {1}
    assert not addresses("pending") & set(received)

    # The rerun sends what is pending, and only that.
    totals = run_in_process(day=DAY, frequency="daily")
    assert totals.sent == after_drop["pending"]
    assert (totals.failed, totals.retry_later, totals.built) == (0, 0, 0)
    # The sweep, STALE_CLAIM_MINUTES later: the chunk in flight is "unknown", not resent.
    Digest.objects.filter(period=PERIOD, status=Digest.Status.SENDING).update(
        claimed_at=F("claimed_at")
        - timedelta(minutes=django_settings.DIGESTS["STALE_CLAIM_MINUTES"] + 1)
    )
    assert mark_stale_claims_unknown() == in_flight
    assert run_in_process(day=DAY, frequency="daily").sent == 0

    final = statuses()
    received = emails_per_address()
    per_subscriber = Counter(
        Digest.objects.filter(period=PERIOD).values_list("subscriber_id", flat=True)
    )
    assert set(per_subscriber) == set(Subscriber.objects.values_list("pk", flat=True))
    assert set(per_subscriber.values()) == {1}
    assert set(final) <= {"sent", "unknown", "skipped"}, final
    assert final["unknown"] == in_flight and final["sent"] == built["pending"] - in_flight, final
    assert final["skipped"] == built["skipped"], final
    # Everyone with something to read got it exactly once (the "unknown" one too).
    assert set(received.values()) == {1}, received
    assert set(received) == addresses("sent") | addresses("unknown")
