"""The day's digests through anymail's real Postmark backend, to a fake Postmark on loopback."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest

from benchmarks.fake_esp import FakeEsp, Knobs, start_fake_esp
from papers.models import Topic
from subscriptions.delivery.runs import run_in_process
from subscriptions.delivery.sending import mark_stale_claims_unknown
from subscriptions.models import Digest
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db
DAY = date(2025, 11, 6)
READERS = 12


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEsp]:
    with start_fake_esp(latency_ms=30) as esp:
        yield esp


@pytest.fixture
def esp(server, settings, seeded):
    server.set_knobs(**{**dataclasses.asdict(Knobs()), "latency_ms": 30})
    server.reset()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, **server.anymail_settings()}
    settings.DIGESTS = {**settings.DIGESTS, "SEND_CONCURRENCY": 4}
    faces = Topic.objects.get(slug="face-analysis")
    for n in range(READERS):
        make_subscriber(email=f"reader{n}@example.org", topics=[faces])
    return server


def statuses():
    return Counter(Digest.objects.values_list("status", flat=True))


def test_every_reader_gets_one_digest_with_several_requests_in_flight(esp):
    totals = run_in_process(day=DAY, frequency="daily")
    stats = esp.stats()
    assert totals.sent == READERS and statuses() == {"sent": READERS}
    assert (stats["unique_recipients"], stats["duplicate_recipients"]) == (READERS, 0)
    assert 2 <= stats["max_in_flight"] <= 4
    ids = set(Digest.objects.values_list("esp_message_id", flat=True))
    assert ids == {message["MessageID"] for message in esp.messages()}
    assert run_in_process(day=DAY, frequency="daily").sent == 0
    assert esp.stats()["messages_accepted"] == READERS


def test_an_answer_lost_after_the_esp_took_the_message_is_never_resent_blindly(esp):
    esp.set_knobs(lost_response_rate=1.0)  # the ESP takes each message, then drops the line
    totals = run_in_process(day=DAY, frequency="daily")
    assert totals.sent == 0 and totals.retry_later == 0
    assert statuses() == {"sending": READERS}  # in doubt: the ESP may have them (it does)
    esp.set_knobs(lost_response_rate=0.0)
    run_in_process(day=DAY, frequency="daily")
    Digest.objects.update(claimed_at=Digest.objects.first().claimed_at.replace(year=2000))
    assert mark_stale_claims_unknown() == READERS
    run_in_process(day=DAY, frequency="daily")
    assert esp.stats()["duplicate_recipients"] == 0
    assert esp.stats()["unique_recipients"] == READERS


def test_a_server_error_is_retried_and_sends_once(esp):
    esp.set_knobs(error_rate=1.0)
    totals = run_in_process(day=DAY, frequency="daily")
    assert totals.sent == 0 and totals.retry_later == READERS
    assert statuses() == {"pending": READERS}
    esp.set_knobs(error_rate=0.0)
    assert run_in_process(day=DAY, frequency="daily").sent == READERS
    assert esp.stats()["duplicate_recipients"] == 0
