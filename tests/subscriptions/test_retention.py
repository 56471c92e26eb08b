from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail

from papers.models import Paper, Topic
from subscriptions import tasks
from subscriptions.delivery.retention import apply_retention
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Digest, DigestItem, RetiredPaper
from tests.factories import make_paper, make_subscriber
from tests.subscriptions.helpers import link_in

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


def stored_on(day, papers=None):
    """As if the papers had been ingested on ``day`` (``created_at`` is set on insert)."""
    (papers or Paper.objects.all()).update(
        created_at=datetime(day.year, day.month, day.day, tzinfo=UTC)
    )


def sent_pairs():
    return set(DigestItem.objects.values_list("subscriber_id", "paper_id"))


def face_readers(count=1):
    faces = Topic.objects.get(slug="face-analysis")
    return [make_subscriber(topics=[faces]) for _ in range(count)]


@pytest.mark.parametrize("days_later", [1, 20, 29, 31, 45, 400])
def test_a_paper_featured_again_never_reaches_a_reader_twice(seeded, days_later):
    """Whatever retention forgot, a paper a reader got is never in a later digest of theirs,
    even when a listing features it again (as on the day of the next run)."""
    face_readers(3)
    stored_on(DAY)
    run_in_process(day=DAY, frequency="daily")
    first = sent_pairs()
    assert first
    later = DAY + timedelta(days=days_later)
    apply_retention(today=later)
    # Every paper featured again on the day of the next run: all are in its window.
    Paper.objects.update(featured_on=later)
    mail.outbox.clear()
    run_in_process(day=later, frequency="daily")
    second = set(
        DigestItem.objects.filter(digest__day=later).values_list("subscriber_id", "paper_id")
    )
    assert not first & second


def test_it_keeps_who_got_a_paper_while_the_paper_is_recent(seeded):
    face_readers(2)
    stored_on(DAY)
    run_in_process(day=DAY, frequency="daily")
    before = sent_pairs()
    report = apply_retention(today=DAY + timedelta(days=30))  # featured exactly 30 days ago
    assert (report.papers_retired, report.items_deleted) == (0, 0)
    assert sent_pairs() == before


def test_it_deletes_the_items_of_papers_no_longer_new_and_retires_them(seeded):
    face_readers(2)
    stored_on(DAY)
    recent = make_paper(title="A paper featured lately", featured_on=DAY + timedelta(days=25))
    stored_on(DAY + timedelta(days=25), Paper.objects.filter(pk=recent.pk))
    run_in_process(day=DAY, frequency="daily")
    items = DigestItem.objects.count()
    assert items

    report = apply_retention(today=DAY + timedelta(days=31))

    assert report.items_deleted == items
    assert DigestItem.objects.count() == 0
    retired = set(RetiredPaper.objects.values_list("paper_id", flat=True))
    assert recent.pk not in retired
    assert retired == set(Paper.objects.exclude(pk=recent.pk).values_list("pk", flat=True))
    # The digests themselves stay: status, sent time, ESP id.
    assert Digest.objects.filter(status=Digest.Status.SENT).count() == 2


def test_a_paper_stored_lately_is_kept_whatever_its_listing_day(seeded):
    """An old paper that arrived lately (a backfill) may be new to readers by arrival."""
    face_readers(1)
    run_in_process(day=DAY, frequency="daily")  # papers stored today, long after DAY
    items = DigestItem.objects.count()
    report = apply_retention(today=DAY + timedelta(days=60))
    assert (report.papers_retired, DigestItem.objects.count()) == (0, items)


def test_it_deletes_in_batches_and_running_again_does_nothing(seeded, settings):
    settings.RETENTION_BATCH_SIZE = 10
    face_readers(12)
    stored_on(DAY)
    run_in_process(day=DAY, frequency="daily")
    assert DigestItem.objects.count() > 10

    first = apply_retention(today=DAY + timedelta(days=40))
    again = apply_retention(today=DAY + timedelta(days=40))

    assert first.items_deleted > 10
    assert DigestItem.objects.count() == 0
    assert (again.papers_retired, again.items_deleted) == (0, 0)
    assert not RetiredPaper.objects.filter(items_deleted_at=None).exists()


def test_old_digests_are_compacted_by_default(seeded):
    face_readers(2)
    stored_on(DAY)
    run_in_process(day=DAY, frequency="daily")
    Digest.objects.update(error="connection reset by peer")
    report = apply_retention(today=DAY + timedelta(days=401))
    assert report.digests_compacted == 2
    kept = list(Digest.objects.values_list("status", "error", "esp_message_id"))
    assert len(kept) == 2
    assert all(status == "sent" and error == "" and esp_id for status, error, esp_id in kept)


def test_old_digests_are_dropped_when_the_operator_says_so(seeded, settings):
    settings.DIGESTS_OLD = "drop"
    face_readers(2)
    stored_on(DAY)
    run_in_process(day=DAY, frequency="daily")
    younger = Digest.objects.first()
    Digest.objects.filter(pk=younger.pk).update(day=DAY + timedelta(days=2))

    report = apply_retention(today=DAY + timedelta(days=401))

    assert report.digests_dropped == 1
    assert list(Digest.objects.values_list("pk", flat=True)) == [younger.pk]


def test_the_nightly_task_is_scheduled_and_reports_what_it_did(seeded):
    from django_celery_beat.models import PeriodicTask

    scheduled = PeriodicTask.objects.get(task="subscriptions.tasks.apply_retention")
    assert scheduled.enabled and scheduled.crontab.hour == "3"
    result = tasks.apply_retention.delay().get()
    assert result == {
        "papers_retired": 0,
        "items_deleted": 0,
        "digests_compacted": 0,
        "digests_dropped": 0,
    }


def test_a_digest_whose_papers_were_forgotten_says_so_in_the_browser(client, seeded):
    face_readers(1)
    stored_on(DAY)
    run_in_process(day=DAY, frequency="daily")
    [email] = mail.outbox
    view = link_in(email, "/digest/view/")
    assert "Faceptor" in client.get(view).content.decode()

    apply_retention(today=DAY + timedelta(days=31))

    page = client.get(view)
    assert page.status_code == 410
    assert "This digest is no longer kept" in page.content.decode()
    assert "/digest/2025-11-06/" in page.content.decode()  # the day's papers, in the archive
