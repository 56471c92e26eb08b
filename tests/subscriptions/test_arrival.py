"""Issue 17, item 1: a paper reaches a reader by when it arrived, not by its featured day.

Hugging Face fills a day's list through the day; the beat ingests it at 06:15, 12:15 and
18:15 UTC and the digest goes out at 07:00. A paper listed after the digest of its day was
built must go into the next digest, once. The clock walks through the real beat schedule;
the listing is the real API document, as it stood at each ingest (items by their
``submittedOnDailyAt``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from subscriptions.models import Digest, DigestItem
from tests.beat import run_schedule, utc
from tests.conftest import fixture_text
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db

HF_INGEST = "Ingest Hugging Face Daily Papers"
DIGESTS = "Send the digests due this hour"
LATE = "DreamO: A Unified Framework for Image Customization"  # listed 08:55 UTC
FIXTURE_DAY = date(2025, 11, 6)


class ListingAsItStood:
    """The real Daily Papers document, moved to ``day``, holding what was listed by now."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.items = json.loads(fixture_text("hf-daily-papers.json"))

    def __call__(self, url: str, **_: object) -> bytes:
        if f"date={self.day.isoformat()}" not in url:
            return b"[]"
        now = timezone.now()
        listed = []
        for item in self.items:
            item = json.loads(json.dumps(item))
            paper = item["paper"]
            at = datetime.fromisoformat(paper["submittedOnDailyAt"].replace("Z", "+00:00"))
            at += timedelta(days=(self.day - FIXTURE_DAY).days)
            if at <= now:
                paper["submittedOnDailyAt"] = at.isoformat().replace("+00:00", "Z")
                listed.append(item)
        return json.dumps(listed).encode()


def digests_with(title: str) -> list[tuple[str, str]]:
    return list(
        DigestItem.objects.filter(paper__title=title)
        .order_by("digest__period")
        .values_list("digest__period", "digest__status")
    )


@pytest.fixture
def reader_of(monkeypatch):
    def make(frequency: str, day: date):
        monkeypatch.setattr("papers.ingest.fetch_document", ListingAsItStood(day))
        return make_subscriber(
            frequency=frequency, keywords=["model merging", "image customization"]
        )

    return make


def test_a_paper_listed_after_the_digest_hour_goes_into_the_next_digest_once(reader_of):
    reader = reader_of("daily", FIXTURE_DAY)
    fired = run_schedule(
        names=[HF_INGEST, DIGESTS], start=utc(2025, 11, 6, 0, 0), end=utc(2025, 11, 8, 23, 0)
    )
    # The real schedule: ingests before and after the reader's hour (07:00, UTC) on one day.
    ingests = [(f.at.hour, f.at.minute) for f in fired if f.at.day == 6 and f.entry == HF_INGEST]
    assert ingests == [(6, 15), (12, 15), (18, 15)]
    assert {f.at.hour for f in fired if f.entry == DIGESTS} == set(range(24))
    built = Digest.objects.filter(subscriber=reader).values_list("created_at", flat=True)
    assert {moment.hour for moment in built} == {7}

    assert digests_with(LATE) == [("2025-11-07", Digest.Status.SENT)]
    digests = dict(Digest.objects.filter(subscriber=reader).values_list("period", "status"))
    assert digests == {
        "2025-11-06": Digest.Status.SENT,
        "2025-11-07": Digest.Status.SENT,
        "2025-11-08": Digest.Status.SKIPPED,  # nothing arrived since: nothing sent twice
    }
    emails = [m for m in mail.outbox if m.to == [reader.email]]
    assert len(emails) == 2
    assert LATE not in emails[0].body and LATE in emails[1].body
    assert "FW-Merging" in emails[0].body


def test_a_weekly_reader_gets_what_was_listed_after_their_digest_in_the_next_week(reader_of):
    monday = date(2025, 11, 10)
    reader = reader_of("weekly", monday)
    run_schedule(
        names=[HF_INGEST, DIGESTS], start=utc(2025, 11, 10, 0, 0), end=utc(2025, 11, 24, 23, 0)
    )
    assert digests_with(LATE) == [("2025-W47", Digest.Status.SENT)]
    digests = dict(Digest.objects.filter(subscriber=reader).values_list("period", "status"))
    assert digests == {
        "2025-W46": Digest.Status.SENT,
        "2025-W47": Digest.Status.SENT,
        "2025-W48": Digest.Status.SKIPPED,
    }
    first = DigestItem.objects.filter(digest__period="2025-W46", paper__title__startswith="FW-")
    assert first.exists()


def test_a_paper_committed_while_a_batch_was_being_built_reaches_the_next_digest(seeded):
    import time_machine

    from papers.models import Paper
    from subscriptions.delivery.digests import build_digest_batch
    from tests.factories import make_paper

    reader = make_subscriber(keywords=["faces"])
    with time_machine.travel(utc(2025, 11, 6, 7, 0, 2), tick=False):
        build_digest_batch(day=FIXTURE_DAY, frequency="daily", first_id=1, last_id=10**9)
    Digest.objects.update(status=Digest.Status.SENT)
    # Its ingest stamped it at 07:00:00, before the batch read its candidates, and committed
    # after: the batch never saw it, and its digest is dated 07:00:02.
    late = make_paper(title="Faces, seen late", featured_on=FIXTURE_DAY)
    Paper.objects.filter(pk=late.pk).update(arrived_at=utc(2025, 11, 6, 7, 0, 0))
    with time_machine.travel(utc(2025, 11, 7, 7, 0), tick=False):
        build_digest_batch(
            day=FIXTURE_DAY + timedelta(days=1), frequency="daily", first_id=1, last_id=10**9
        )
    assert digests_with("Faces, seen late") == [("2025-11-07", "pending")]
    assert Digest.objects.filter(subscriber=reader).count() == 2
