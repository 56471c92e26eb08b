"""The admin's per-period counts, kept as the run goes, equal a direct count of the digests."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from anymail.signals import AnymailTrackingEvent, EventType
from django.utils import timezone

from papers.models import Topic
from subscriptions.delivery.runs import process_batch, run_in_process, start_run
from subscriptions.delivery.sending import retry_failed_digests, send_pending_digests
from subscriptions.delivery.settling import settle_from_event
from subscriptions.models import Digest, DigestCount
from subscriptions.tasks import recover_sending
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db
DAY = date(2025, 11, 6)
PERIOD = "2025-11-06"


@pytest.fixture
def readers(seeded):
    topic = Topic.objects.get(slug="face-analysis")
    return [make_subscriber(email=f"r{n}@example.org", topics=[topic]) for n in range(5)]


def kept() -> dict[str, int]:
    return DigestCount.objects.get(period=PERIOD, frequency="daily").counts


def counted_directly() -> dict[str, int]:
    digests = Digest.objects.filter(period=PERIOD)
    by_status = Counter(digests.values_list("status", flat=True))
    return {
        "built": digests.count(),
        **{status: by_status[status] for status in Digest.Status.values},
        "in_doubt": by_status["sending"] + by_status["unknown"],
        "settled_by_events": digests.filter(settled_by_event=True).count(),
        "resent": digests.filter(resent_at__isnull=False).count(),
    }


def test_a_batch_counts_its_period_as_it_goes(readers):
    [(first_id, last_id)] = start_run(day=DAY, frequency="daily")
    process_batch(day=DAY, frequency="daily", first_id=first_id, last_id=last_id)
    assert kept() == counted_directly()
    assert kept()["sent"] == 5


def test_the_counts_equal_a_direct_count_after_runs_retries_and_webhooks(readers):
    run_in_process(day=DAY, frequency="daily")
    assert kept() == counted_directly()

    digests = list(Digest.objects.filter(period=PERIOD).order_by("pk"))
    # One failed (say the ESP refused it), one left in doubt by a killed worker and then
    # settled by the ESP's event, one unsubscribed before a retry.
    Digest.objects.filter(pk=digests[0].pk).update(status="failed", error="550")
    Digest.objects.filter(pk=digests[1].pk).update(status="sending", claimed_at=timezone.now())
    recover_sending()
    assert kept() == counted_directly()
    assert (kept()["failed"], kept()["in_doubt"]) == (1, 1)

    event = AnymailTrackingEvent(
        event_type=EventType.DELIVERED,
        message_id="m-1",
        metadata={"digest_id": str(digests[1].pk)},
        timestamp=timezone.now(),
    )
    assert settle_from_event(event)
    retry_failed_digests(digest_ids=[digests[0].pk])
    send_pending_digests(period=PERIOD, first_id=1, last_id=10**9)
    recover_sending()
    assert kept() == counted_directly()
    assert (kept()["sent"], kept()["failed"], kept()["settled_by_events"]) == (5, 0, 1)


def test_the_summary_reads_a_row_a_period(admin_client, readers, django_assert_max_num_queries):
    run_in_process(day=DAY, frequency="daily")
    for n in range(30):  # a month of periods
        DigestCount.objects.create(
            period=f"2025-10-{n + 1:02d}",
            frequency="daily",
            counts={"built": n},
            counted_at=timezone.now(),
        )
    with django_assert_max_num_queries(12):
        page = admin_client.get("/admin/subscriptions/digest/summary/")
    assert page.status_code == 200 and "2025-10-30" in page.content.decode()
