"""Sending many digests at once: the pool's concurrency, and one failure stopping nothing."""

from __future__ import annotations

import math
import threading
import time

import pytest

from subscriptions.delivery.pool import Result, SendPool
from subscriptions.delivery.runs import run_in_process
from subscriptions.delivery.throttle import LONGEST_WAIT, LocalThrottle, RedisThrottle
from subscriptions.models import Digest
from tests.factories import make_subscriber
from tests.support import overlap_backend

DAY_ARGS = {"frequency": "daily"}


@pytest.fixture
def overlap(settings):
    settings.EMAIL_BACKEND = "tests.support.overlap_backend.OverlapBackend"
    overlap_backend.reset()
    yield overlap_backend
    overlap_backend.reset()


def email_to(address):
    from django.core.mail import EmailMessage

    return EmailMessage(subject="s", body="b", to=[address], headers={"Message-ID": "<m@x>"})


def test_it_reaches_the_configured_concurrency_and_never_exceeds_it(overlap):
    with SendPool(concurrency=8, throttle=LocalThrottle(None)) as pool:
        sends = [pool.submit(n, email_to(f"r{n}@example.org")) for n in range(40)]
        outcomes = [send.result() for send in sends]
    assert {outcome.result for outcome in outcomes} == {Result.SENT}
    assert overlap.most_in_flight == 8
    assert overlap.connections_opened <= 8  # one connection a thread, not one a message
    assert sorted(overlap.sent) == sorted(f"r{n}@example.org" for n in range(40))


def test_one_failing_message_stops_none_of_the_others(overlap):
    overlap.REFUSE.add("r3@example.org")
    overlap.UNAVAILABLE.add("r5@example.org")
    with SendPool(concurrency=4, throttle=LocalThrottle(None)) as pool:
        outcomes = [pool.submit(n, email_to(f"r{n}@example.org")).result() for n in range(8)]
    results = {outcome.digest_id: outcome.result for outcome in outcomes}
    assert results[3] is Result.FAILED  # refused for good
    assert results[5] is Result.RETRY  # the ESP could not take it now: not sent
    assert [n for n, result in results.items() if result is Result.SENT] == [0, 1, 2, 4, 6, 7]


def test_a_stopped_pool_hands_nothing_more_to_the_esp(overlap):
    overlap.DELAY = 0.2
    try:
        with SendPool(concurrency=2, throttle=LocalThrottle(None)) as pool:
            sends = [pool.submit(n, email_to(f"r{n}@example.org")) for n in range(10)]
            pool.stop()
            outcomes = [send.result() for send in sends]
    finally:
        overlap.DELAY = 0.05
    tried = [o for o in outcomes if o.result is not Result.NOT_TRIED]
    assert len(tried) <= 2  # only those already under way when it stopped
    assert len(overlap.sent) == len(tried)


def test_a_long_pause_holds_sends_back_instead_of_keeping_the_worker_asleep():
    throttle = LocalThrottle(None)
    throttle.pause_all(LONGEST_WAIT + 60)
    hold = throttle.wait_for_turn(threading.Event())
    assert LONGEST_WAIT + 59 < hold <= LONGEST_WAIT + 60


def test_a_stopped_sender_waiting_for_its_turn_gives_up():
    throttle = LocalThrottle(0.5)  # a slot every two seconds
    stop = threading.Event()
    assert throttle.wait_for_turn(stop) == 0  # the first goes at once
    stop.set()
    assert throttle.wait_for_turn(stop) == math.inf


@pytest.mark.django_db
def test_a_day_sent_concurrently_reaches_everyone_once(overlap, seeded, settings):
    from papers.models import Topic

    settings.DIGESTS = {**settings.DIGESTS, "SEND_CONCURRENCY": 6}
    faces = Topic.objects.get(slug="face-analysis")
    readers = [make_subscriber(email=f"r{n}@example.org", topics=[faces]) for n in range(23)]
    overlap.REFUSE.add("r7@example.org")
    from datetime import date

    totals = run_in_process(day=date(2025, 11, 6), **DAY_ARGS)
    assert (totals.sent, totals.failed) == (22, 1)
    assert sorted(overlap.sent) == sorted(r.email for r in readers if r.email != "r7@example.org")
    assert 2 <= overlap.most_in_flight <= 6
    statuses = dict(Digest.objects.values_list("subscriber__email", "status"))
    assert statuses.pop("r7@example.org") == "failed"
    assert set(statuses.values()) == {"sent"}
    assert run_in_process(day=date(2025, 11, 6), **DAY_ARGS).sent == 0


@pytest.mark.redis
def test_a_pause_one_worker_was_asked_for_holds_every_worker_sharing_redis(redis_url):
    one, other = RedisThrottle(None, redis_url), RedisThrottle(None, redis_url)
    assert other.wait_for_turn(threading.Event()) == 0
    one.pause_all(LONGEST_WAIT + 60)  # the ESP answered 429 with Retry-After to one of them
    time.sleep(0.3)  # with no rate to keep, a worker reads the pause every quarter second
    assert LONGEST_WAIT + 59 < other.wait_for_turn(threading.Event()) <= LONGEST_WAIT + 60


@pytest.mark.redis
def test_workers_sharing_redis_book_slots_on_one_time_line(redis_url):
    # Two a second for both together, no burst: the second sender's slot is half a second
    # after the first's, whichever worker books it. Stopped before then, it gives up; a
    # sender with its own slot (no limit) goes at once.
    one, other = RedisThrottle(2, redis_url), RedisThrottle(2, redis_url)
    assert one.wait_for_turn(threading.Event()) == 0
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    assert other.wait_for_turn(stop) == math.inf
    unlimited = threading.Event()
    threading.Timer(0.2, unlimited.set).start()
    assert RedisThrottle(None, redis_url).wait_for_turn(unlimited) == 0


def test_with_redis_unreachable_a_worker_keeps_the_rate_and_pauses_alone():
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    throttle = RedisThrottle(None, f"redis://127.0.0.1:{port}/0")
    assert throttle.wait_for_turn(threading.Event()) == 0  # sending goes on without Redis
    throttle.pause_all(LONGEST_WAIT + 60)  # a 429 while Redis is down still pauses here
    assert throttle.wait_for_turn(threading.Event()) > LONGEST_WAIT + 59
