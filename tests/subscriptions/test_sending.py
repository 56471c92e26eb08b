from datetime import date, timedelta

import pytest
from anymail.exceptions import AnymailAPIError
from anymail.message import AnymailRecipientStatus
from django.core import mail
from django.utils import timezone

from papers.models import Paper, Topic
from subscriptions.delivery import sending
from subscriptions.delivery.digests import build_digest_batch
from subscriptions.delivery.runs import process_batch, run_in_process
from subscriptions.delivery.selectors import digests_with_content
from subscriptions.delivery.sending import mark_stale_claims_unknown, send_pending_digests
from subscriptions.models import Digest, DigestRun, Subscriber
from subscriptions.tasks import send_digests
from tests.factories import make_subscriber
from tests.subscriptions.helpers import assert_in_both_parts, html_part

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)
PERIOD = "2025-11-06"


@pytest.fixture
def readers(seeded):
    faces = Topic.objects.get(slug="face-analysis")
    return [make_subscriber(email=f"reader{i}@example.org", topics=[faces]) for i in range(3)]


def run():
    return run_in_process(day=DAY, frequency="daily")


def fail_sends_with(monkeypatch, *errors):
    """Make the next sends fail with these errors, one each (anymail's test backend hook)."""
    remaining = list(errors)
    original = sending.digest_email

    def digest_email(digest, picks):
        email = original(digest, picks)
        if remaining:
            error = remaining.pop(0)
            if error == "rejected":
                # The ESP answers, refusing the only recipient: anymail raises RecipientsRefused.
                refused = AnymailRecipientStatus(message_id=None, status="rejected")
                error = {"recipient_status": {digest.subscriber.email: refused}}
            email.anymail_test_response = error
        return email

    monkeypatch.setattr(sending, "digest_email", digest_email)


class FakeResponse:
    """What anymail keeps of an ESP's HTTP answer."""

    def __init__(self, status_code, headers=None, text="error"):
        self.status_code = status_code
        self.headers = headers or {}
        self.reason = "ESP says no"
        self.text = text


def esp_error(status_code, message="ESP error", **headers):
    return AnymailAPIError(
        message, status_code=status_code, response=FakeResponse(status_code, headers)
    )


def test_each_digest_has_both_parts_and_the_list_headers(readers, settings):
    settings.DIGEST_REPLY_TO = "editors@paper-digest.example"
    totals = run()
    assert (totals.built, totals.sent, totals.failed) == (3, 3, 0)
    email = next(m for m in mail.outbox if m.to == ["reader0@example.org"])
    assert email.subject.endswith("· Paper Digest Nov 6")
    assert_in_both_parts(email, "topic: Face analysis")
    assert_in_both_parts(email, "Manage preferences")
    assert_in_both_parts(email, "Faceptor: A Generalist Model for Face Perception")
    assert_in_both_parts(email, "/unsubscribe/")
    assert_in_both_parts(email, "/preferences/")
    assert_in_both_parts(email, "/digest/view/")
    assert_in_both_parts(email, "/feedback/")
    assert "TRENDING TODAY" in email.body and "Trending today" in html_part(email)
    headers = email.anymail_test_params["extra_headers"]
    assert headers["List-Unsubscribe"].startswith("<http") and headers["List-Unsubscribe"].endswith(
        "/one-click/>"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"] == settings.DIGEST_LIST_ID
    assert email.anymail_test_params["reply_to"][0].addr_spec == "editors@paper-digest.example"
    assert 'style="' in html_part(email)  # CSS inlined
    digest = Digest.objects.get(subscriber__email="reader0@example.org")
    assert digest.status == Digest.Status.SENT
    assert digest.sent_at is not None and digest.esp_message_id != ""


def test_a_second_run_sends_nothing(readers):
    run()
    assert run().sent == 0
    assert len(mail.outbox) == 3


def test_a_retried_batch_or_a_duplicated_task_message_sends_once(readers):
    ids = (readers[0].pk, readers[-1].pk)
    process_batch(day=DAY, frequency="daily", first_id=ids[0], last_id=ids[1])
    process_batch(day=DAY, frequency="daily", first_id=ids[0], last_id=ids[1])
    send_digests.delay("daily", PERIOD)
    send_digests.delay("daily", PERIOD)
    assert len(mail.outbox) == 3


def test_two_workers_racing_for_one_digest_send_it_once(readers):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    # Both loaded the pending digests; the first sends them, the second finds them taken.
    first = list(digests_with_content().filter(status="pending"))
    second = list(digests_with_content().filter(status="pending"))
    assert sending.send_chunk(first).sent == 3
    report = sending.send_chunk(second)
    assert (report.sent, report.skipped) == (0, 3)
    assert len(mail.outbox) == 3


def test_an_unknown_outcome_is_marked_and_never_resent(readers):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    # A worker claimed this digest, called the ESP, and died before recording the result.
    stuck = Digest.objects.first()
    Digest.objects.filter(pk=stuck.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=2)
    )
    assert mark_stale_claims_unknown() == 1
    run()
    stuck.refresh_from_db()
    assert stuck.status == Digest.Status.UNKNOWN
    assert "may have it" in stuck.error
    assert len(mail.outbox) == 2


def test_a_recent_claim_is_not_called_unknown(readers):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    Digest.objects.update(status="sending", claimed_at=timezone.now())
    assert mark_stale_claims_unknown() == 0


def test_a_server_error_leaves_the_digest_pending_for_a_retry(readers, monkeypatch):
    fail_sends_with(monkeypatch, esp_error(503, "ESP down"))
    totals = run()
    assert (totals.sent, totals.retry_later, totals.failed) == (2, 1, 0)
    waiting = Digest.objects.get(status=Digest.Status.PENDING)
    assert "ESP down" in waiting.error
    assert run().sent == 1
    assert Digest.objects.filter(status="sent").count() == 3
    delivered = [m for m in mail.outbox if not hasattr(m, "anymail_test_response")]
    assert sorted(m.to[0] for m in delivered) == sorted(r.email for r in readers)


def test_too_many_requests_honours_retry_after(readers, monkeypatch):
    fail_sends_with(monkeypatch, esp_error(429, "rate limited", **{"Retry-After": "120"}))
    report = send_after_build(readers)
    # The one that got the 429 waits; so does any that had not started yet (held back, not
    # failed), and the batch is retried after Retry-After.
    assert report.retry_later >= 1 and report.sent + report.retry_later == 3
    assert report.retry_after == 120
    assert report.failed == 0 and not report.paused
    assert Digest.objects.filter(status="pending").count() == report.retry_later


def test_the_task_retries_a_passing_failure_and_then_sends(readers, monkeypatch):
    from digest_site.celery import app

    # In-process, Celery runs a retry at once when errors are not propagated to the caller.
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)
    fail_sends_with(monkeypatch, AnymailAPIError("connection reset"))
    send_digests.delay("daily", PERIOD)
    assert Digest.objects.filter(status="sent").count() == 3
    assert Digest.objects.get(subscriber=readers[0]).attempts == 2


def test_a_rejected_address_fails_for_good_without_retry(readers, monkeypatch):
    fail_sends_with(
        monkeypatch,
        "rejected",
        esp_error(400, "bad request"),
    )
    totals = run()
    assert (totals.sent, totals.failed, totals.retry_later) == (1, 2, 0)
    failed = Digest.objects.filter(status=Digest.Status.FAILED)
    assert failed.count() == 2
    assert {d.error.split(":")[0] for d in failed} == {
        "AnymailRecipientsRefused",
        "AnymailAPIError",
    }
    assert run().sent == 0


@pytest.mark.parametrize("character", ["\x1c", "\x0b", "\x0c", "\x85", "\u2028"])
def test_an_address_no_header_can_hold_fails_alone_and_the_others_go(readers, character):
    # The standard library takes these for line breaks: in To: they would end the header.
    Subscriber.objects.filter(pk=readers[1].pk).update(email=f'"a{character}b"@example.org')
    totals = run()
    assert (totals.sent, totals.failed, totals.retry_later) == (2, 1, 0)
    assert sorted(m.to[0] for m in mail.outbox) == ["reader0@example.org", "reader2@example.org"]
    failed = Digest.objects.get(status=Digest.Status.FAILED)
    assert failed.subscriber_id == readers[1].pk
    assert "control character" in failed.error
    assert run().sent == 0


def test_someone_who_left_after_the_digest_was_built_gets_nothing(readers):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    Subscriber.objects.filter(pk=readers[1].pk).update(status="unsubscribed")
    Subscriber.objects.filter(pk=readers[2].pk).update(status="bounced")
    run()
    assert [m.to for m in mail.outbox] == [["reader0@example.org"]]
    assert Digest.objects.filter(status=Digest.Status.SKIPPED).count() == 2


def test_many_failures_in_a_row_pause_the_run(readers, monkeypatch, settings):
    settings.DIGESTS = {**settings.DIGESTS, "MAX_CONSECUTIVE_FAILURES": 2}
    errors = [esp_error(500, "down")] * 3
    fail_sends_with(monkeypatch, *errors)
    totals = run()
    assert totals.paused
    assert "paused after 2 failed sends in a row" in DigestRun.objects.get().paused_reason
    assert Digest.objects.filter(status=Digest.Status.PENDING).count() == 3
    assert run().sent == 0  # still paused until an operator clears the reason
    DigestRun.objects.update(paused_reason="")
    monkeypatch.undo()
    assert run().sent == 3


def test_titles_from_listings_cannot_add_headers_or_markup(seeded):
    Paper.objects.filter(title__startswith="Faceptor").update(
        title='Faceptor <script>alert("x")</script>\r\nBcc: everyone@example.org'
    )
    make_subscriber(email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    Paper.objects.filter(title__startswith="Faceptor").update(upvotes=500)
    run()
    [email] = mail.outbox
    params = email.anymail_test_params
    assert "\r" not in params["subject"] and "\n" not in params["subject"]
    for value in params["extra_headers"].values():
        assert "\r" not in value and "\n" not in value
    assert (params["to"][0].addr_spec, params["cc"], params["bcc"]) == ("ada@example.org", [], [])
    html = html_part(email)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def send_after_build(readers):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    return send_pending_digests(period=PERIOD, first_id=readers[0].pk, last_id=readers[-1].pk)
