"""Workers SIGKILLed mid-send and restarted: the beat sweep alone finishes the day.

Real Celery workers and ``celery beat`` on the real Redis and the PostgreSQL test database,
gunicorn serving the ESP webhooks, and anymail's Postmark backend pointed at the fake
Postmark API, which posts a ``Delivery`` event for every message it accepts. The run is
queued once; three kills land while digests are being sent; nobody reruns anything. The
broker's visibility timeout stays at its hour, so only the sweep can bring the killed
batches back in time. (``benchmarks/worker_kills.py`` is the same run at 3,000 readers.)
"""

from __future__ import annotations

import os
from datetime import date

import pytest

from benchmarks.worker_kills import KillRun, run
from tests.reliability.services import make_readers, missing_service

DAY = date(2025, 11, 6)  # the day the seed's papers are featured on
READERS = 80
CONCURRENCY = 3


def kill_run(*, events: bool) -> KillRun:
    # Slow enough (a few digests a second per worker) for three kills to land mid-send, and
    # short minutes so that what they leave is settled within the test.
    return KillRun(
        day=DAY,
        readers=READERS,
        kills=3,
        workers=2,
        events=events,
        latency_ms=150,
        concurrency=CONCURRENCY,
        batch_size=10,
        stale_claim_minutes=0.15,
        stall_minutes=0.15,
        resend_minutes=0.3,
        sweep_seconds=2,
        settle_seconds=240,
        first_kill_at=0.1,
        kill_step=0.15,
    )


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request, redis_url) -> str:
    """The broker: Redis, or RabbitMQ (which must be there in CI, as Redis must)."""
    if request.param == "redis":
        return redis_url
    import kombu

    url = os.environ.get("CI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        with kombu.Connection(url, connect_timeout=3) as connection:
            connection.connect()
    except Exception as error:
        missing_service(f"RabbitMQ at {url} does not answer: {error}")
    return url


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_with_esp_events_every_reader_gets_one_digest_and_nothing_is_left_in_doubt(
    redis_url, broker_url, postgresql_database_url, seeded, tmp_path
):
    make_readers(READERS)
    result = run(
        kill_run(events=True),
        database_url=postgresql_database_url,
        redis_url=redis_url,
        broker_url=broker_url,
        log_dir=tmp_path,
    )
    print(f"\n{result}")
    assert result.statuses.get("active readers without a digest") == 0, result
    assert (result.lost, result.duplicates) == (0, 0), result
    assert result.accepted == READERS
    assert (result.in_doubt, result.left_pending_or_sending) == (0, 0), result
    # What the killed workers had handed to the ESP was settled by its events, and
    # nothing was resent that the ESP had already taken (no duplicates above).
    assert result.settled_by_events >= 1, result


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_without_events_a_kill_leaves_at_most_the_concurrency_in_doubt_and_none_resent(
    redis_url, postgresql_database_url, seeded, tmp_path
):
    make_readers(READERS)
    result = run(
        kill_run(events=False),
        database_url=postgresql_database_url,
        redis_url=redis_url,
        log_dir=tmp_path,
    )
    print(f"\n{result}")
    assert result.duplicates == 0, result
    assert result.left_pending_or_sending == 0, result
    assert result.in_doubt <= 3 * CONCURRENCY, result
    assert (result.resent, result.settled_by_events) == (0, 0), result
    # Only what was in doubt can have been lost; everything else reached the ESP.
    assert result.lost <= result.in_doubt, result
    assert result.accepted + result.lost == READERS, result
