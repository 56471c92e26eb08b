"""The recovery sweep: what a dead worker left is sent without anybody rerunning anything.

Tasks run in-process here, so what the sweep queues is sent at once (the real-worker runs
are in ``tests/reliability/test_worker_killed.py``).
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.utils import timezone

from papers.models import Topic
from subscriptions.delivery import sending
from subscriptions.delivery.digests import build_digest_batch
from subscriptions.delivery.recovery import recover
from subscriptions.delivery.runs import start_run
from subscriptions.delivery.settling import settle_from_event
from subscriptions.models import Digest, DigestBatch, DigestRun, Subscriber
from subscriptions.people.signup import owed_confirmation_ids, send_owed_confirmation
from subscriptions.tasks import recover_sending
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db
DAY = date(2025, 11, 6)
PERIOD = "2025-11-06"


@pytest.fixture
def readers(seeded):
    topic = Topic.objects.get(slug="face-analysis")
    return [make_subscriber(email=f"reader{n}@example.org", topics=[topic]) for n in range(6)]


def a_dead_workers_batch(*, built: bool = True) -> DigestBatch:
    """The run started, its one batch was taken by a worker that died: pending (or not even
    built) and silent for longer than ``STALL_MINUTES``."""
    [(first_id, last_id)] = start_run(day=DAY, frequency="daily")
    if built:
        build_digest_batch(day=DAY, frequency="daily", first_id=first_id, last_id=last_id)
    long_ago = timezone.now() - timedelta(minutes=10)
    DigestBatch.objects.update(queued_at=long_ago, progress_at=long_ago)
    return DigestBatch.objects.get()


def statuses() -> list[str]:
    return sorted(Digest.objects.filter(period=PERIOD).values_list("status", flat=True))


def test_a_stalled_batch_is_queued_again_and_sent(readers):
    a_dead_workers_batch()
    assert statuses() == ["pending"] * 6
    assert recover_sending()["batches"] == 1
    assert statuses() == ["sent"] * 6
    assert len(mail.outbox) == 6
    batch = DigestBatch.objects.get()
    assert batch.done_at is not None and batch.requeued == 1
    # Done: the next sweeps leave it alone.
    assert recover_sending()["batches"] == 0


def test_a_batch_killed_while_building_is_built_and_sent(readers):
    a_dead_workers_batch(built=False)
    assert statuses() == []
    recover_sending()
    assert statuses() == ["sent"] * 6


def test_a_batch_waiting_its_turn_is_not_stalled_while_its_run_moves(readers, settings):
    a_dead_workers_batch()
    run = DigestRun.objects.get()
    # Queued long ago, never started: behind the others in the queue, or its message lost.
    DigestBatch.objects.update(progress_at=None)
    other = DigestBatch.objects.create(
        run=run,
        day=DAY,
        first_id=10**9,
        last_id=10**9 + 1,
        queued_at=timezone.now(),
        progress_at=timezone.now(),
    )
    assert recover_sending()["batches"] == 0
    # The run stopped moving: its message was lost; queued again.
    stall = settings.DIGESTS["STALL_MINUTES"] + 1
    DigestBatch.objects.filter(pk=other.pk).update(
        progress_at=timezone.now() - timedelta(minutes=stall), done_at=timezone.now()
    )
    assert recover_sending()["batches"] == 1
    assert statuses() == ["sent"] * 6


def test_a_batch_that_shows_progress_is_left_to_its_worker(readers, settings):
    batch = a_dead_workers_batch()
    batch.progress_at = timezone.now() - timedelta(minutes=settings.DIGESTS["STALL_MINUTES"] - 1)
    batch.save()
    assert recover_sending()["batches"] == 0
    assert statuses() == ["pending"] * 6


def test_a_batch_taken_by_one_sweep_is_not_taken_by_the_next(readers, settings):
    # A worker slower than the sweep: the first sweep's task is queued, not yet run.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    a_dead_workers_batch()
    now = timezone.now()
    assert len(recover(now=now).batches) == 1
    assert recover(now=now + timedelta(seconds=30)).batches == []
    later = now + timedelta(minutes=settings.DIGESTS["STALL_MINUTES"] + 1)
    assert len(recover(now=later).batches) == 1  # still silent: taken once more


def test_a_paused_run_is_not_resumed_until_the_pause_is_cleared(readers):
    a_dead_workers_batch()
    DigestRun.objects.update(paused_reason="paused after 20 failed sends in a row")
    assert recover_sending()["batches"] == 0
    DigestRun.objects.update(paused_reason="")  # what "clear to resume" in the admin does
    assert recover_sending()["batches"] == 1
    assert statuses() == ["sent"] * 6


def test_a_batch_waiting_to_retry_is_not_stalled_before_its_time(readers):
    batch = a_dead_workers_batch()
    batch.resume_at = timezone.now() + timedelta(minutes=20)
    batch.save()
    assert recover_sending()["batches"] == 0


def test_yesterdays_batch_is_left_alone(readers):
    a_dead_workers_batch()
    DigestBatch.objects.update(created_at=timezone.now() - timedelta(days=1))
    assert recover_sending()["batches"] == 0


def test_a_batch_an_hourly_run_recorded_late_in_its_life_is_recovered(readers):
    # A local day's run starts with the first time zone to reach it and gets batches for
    # more than a day after: each batch is judged by its own age.
    a_dead_workers_batch()
    DigestRun.objects.update(started_at=timezone.now() - timedelta(days=1))
    assert recover_sending()["batches"] == 1


def in_doubt_since(minutes: float, *, count: int = 2) -> list[Digest]:
    """``count`` digests a dead worker had handed to the ESP, claimed ``minutes`` ago."""
    [(first_id, last_id)] = start_run(day=DAY, frequency="daily")
    build_digest_batch(day=DAY, frequency="daily", first_id=first_id, last_id=last_id)
    DigestBatch.objects.update(done_at=timezone.now())
    claimed = timezone.now() - timedelta(minutes=minutes)
    doubt = list(Digest.objects.order_by("pk")[:count])
    Digest.objects.filter(pk__in=[d.pk for d in doubt]).update(
        status=Digest.Status.SENDING, claimed_at=claimed, attempts=1
    )
    Digest.objects.exclude(pk__in=[d.pk for d in doubt]).update(status=Digest.Status.SENT)
    return doubt


def test_doubt_no_esp_event_settled_is_resent_once(readers, settings):
    doubt = in_doubt_since(settings.DIGESTS["UNKNOWN_RESEND_MINUTES"] + 1)
    found = recover_sending()
    assert (found["marked_unknown"], found["resent"]) == (2, 2)
    assert len(mail.outbox) == 2
    assert {m.to[0] for m in mail.outbox} == {d.subscriber.email for d in doubt}
    resent = Digest.objects.filter(pk__in=[d.pk for d in doubt])
    assert {(d.status, d.resent_at is not None) for d in resent} == {("sent", True)}
    # In doubt once more (say its worker died again): never resent twice.
    resent.update(status=Digest.Status.UNKNOWN, claimed_at=timezone.now() - timedelta(days=0.5))
    assert recover_sending()["resent"] == 0
    assert len(mail.outbox) == 2


def test_doubt_is_not_resent_before_its_time(readers, settings):
    in_doubt_since(settings.DIGESTS["UNKNOWN_RESEND_MINUTES"] - 1)
    found = recover_sending()
    assert (found["marked_unknown"], found["resent"]) == (2, 0)
    assert statuses().count("unknown") == 2


def test_with_resending_off_doubt_stays_unknown(readers, settings):
    settings.DIGESTS = {**settings.DIGESTS, "UNKNOWN_RESEND_MINUTES": 0}
    in_doubt_since(60 * 10)
    assert recover_sending()["resent"] == 0
    assert statuses().count("unknown") == 2
    assert mail.outbox == []


def test_doubt_an_esp_event_settled_is_never_resent(readers, settings, delivery_event):
    [settled, unsettled] = in_doubt_since(settings.DIGESTS["UNKNOWN_RESEND_MINUTES"] + 1)
    assert settle_from_event(delivery_event(settled.pk))
    assert recover_sending()["resent"] == 1
    assert [m.to[0] for m in mail.outbox] == [unsettled.subscriber.email]
    settled.refresh_from_db()
    assert (settled.status, settled.settled_by_event, settled.resent_at) == ("sent", True, None)


def test_a_late_event_saves_a_resend_not_yet_claimed(readers, settings, delivery_event):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the resend is queued, not sent yet
    [digest, _] = in_doubt_since(settings.DIGESTS["UNKNOWN_RESEND_MINUTES"] + 1)
    assert recover().resent == 2
    assert settle_from_event(delivery_event(digest.pk))
    digest.refresh_from_db()
    assert digest.status == "sent"


@pytest.fixture
def delivery_event():
    from anymail.signals import AnymailTrackingEvent, EventType

    def make(digest_id: int) -> AnymailTrackingEvent:
        return AnymailTrackingEvent(
            event_type=EventType.DELIVERED,
            message_id="0a129aee-e1cd-480d-b08d-4f48548ff48d",
            metadata={"digest_id": str(digest_id)},
            timestamp=timezone.now(),
        )

    return make


class BlockingBackend(LocmemBackend):
    """Holds every send until ``release`` is set, counting those held."""

    release = threading.Event()
    held = 0
    lock = threading.Lock()

    def send_messages(self, messages):
        with BlockingBackend.lock:
            BlockingBackend.held += len(messages)
        assert BlockingBackend.release.wait(timeout=30)
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_only_what_is_handed_to_the_esp_is_ever_sending(readers, settings):
    """What a kill at this moment would leave in doubt: no more than the concurrency, and
    all of it in the ESP's hands; the rest of the batch is pending, not claimed."""
    settings.DIGESTS = {**settings.DIGESTS, "SEND_CONCURRENCY": 2}
    settings.EMAIL_BACKEND = "tests.subscriptions.test_recovery.BlockingBackend"
    BlockingBackend.release.clear()
    BlockingBackend.held = 0
    [(first_id, last_id)] = start_run(day=DAY, frequency="daily")
    build_digest_batch(day=DAY, frequency="daily", first_id=first_id, last_id=last_id)
    worker = threading.Thread(
        target=sending.send_pending_digests,
        kwargs={"period": PERIOD, "first_id": first_id, "last_id": last_id},
    )
    worker.start()
    try:
        deadline = timezone.now() + timedelta(seconds=20)
        while BlockingBackend.held < 2 and timezone.now() < deadline:
            threading.Event().wait(0.01)
        assert BlockingBackend.held == 2
        assert statuses() == ["pending"] * 4 + ["sending"] * 2
    finally:
        BlockingBackend.release.set()
        worker.join(timeout=30)
    assert statuses() == ["sent"] * 6


def test_a_confirmation_a_killed_worker_had_claimed_is_sent_by_the_sweep(seeded, settings):
    reader = make_subscriber(
        email="new@example.org",
        status=Subscriber.Status.PENDING,
        confirmation_requested_at=timezone.now() - timedelta(minutes=1),
    )
    # The worker claimed it and was killed before sending.
    Subscriber.objects.filter(pk=reader.pk).update(confirmation_claimed_at=timezone.now())
    assert reader.pk not in owed_confirmation_ids()  # it may still be sending it
    stale = settings.DIGESTS["STALE_CLAIM_MINUTES"] + 1
    Subscriber.objects.filter(pk=reader.pk).update(
        confirmation_claimed_at=timezone.now() - timedelta(minutes=stale)
    )
    assert reader.pk in owed_confirmation_ids()
    assert send_owed_confirmation(subscriber_id=reader.pk)
    assert [m.to for m in mail.outbox] == [["new@example.org"]]
    assert not send_owed_confirmation(subscriber_id=reader.pk)  # sent: owed no more
