"""Digests in doubt settled by the ESP's own events, through the real tracking webhook."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from anymail.signals import AnymailTrackingEvent, EventType
from django.core import mail

from papers.models import Topic
from subscriptions.delivery.content import digest_contents
from subscriptions.delivery.digests import build_digest_batch
from subscriptions.delivery.render import digest_email
from subscriptions.delivery.runs import run_in_process
from subscriptions.delivery.settling import settle_from_event
from subscriptions.models import Digest, Subscriber
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db
DAY = date(2025, 11, 6)
URL = "/anymail/postmark/tracking/"
SECRET = "esp:s3cret-webhook-password"


@pytest.fixture
def digest(seeded, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
    reader = make_subscriber(
        email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")]
    )
    build_digest_batch(day=DAY, frequency="daily", first_id=reader.pk, last_id=reader.pk)
    return Digest.objects.select_related("subscriber").get(subscriber=reader)


def delivery_event(digest_id, message_id="0a129aee-e1cd-480d-b08d-4f48548ff48d"):
    return json.dumps(
        {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "outbound",
            "MessageID": message_id,
            "Recipient": "ada@example.org",
            "Tag": "",
            "DeliveredAt": "2025-11-06T07:00:03Z",
            "Details": "Test delivery webhook details",
            "Metadata": {"digest_id": digest_id},
        }
    )


def post(client, body):
    token = base64.b64encode(SECRET.encode()).decode()
    response = client.post(
        URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Basic {token}"
    )
    assert response.status_code == 200
    return response


def test_every_digest_carries_its_own_id_for_the_esp(digest):
    run_in_process(day=DAY, frequency="daily")
    [sent] = mail.outbox
    assert sent.anymail_test_params["metadata"] == {"digest_id": str(digest.pk)}


def test_a_test_send_from_the_admin_carries_no_digest_id(digest):
    email = digest_email(digest, digest_contents([digest])[digest.pk], to="editor@example.org")
    assert not getattr(email, "metadata", None)


@pytest.mark.parametrize("doubt", [Digest.Status.SENDING, Digest.Status.UNKNOWN])
def test_a_delivery_event_settles_a_digest_in_doubt_as_sent(client, digest, doubt):
    Digest.objects.filter(pk=digest.pk).update(status=doubt)
    post(client, delivery_event(str(digest.pk)))
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT
    assert digest.esp_message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    assert digest.sent_at is not None
    post(client, delivery_event(str(digest.pk), message_id="another"))  # a replay
    digest.refresh_from_db()
    assert digest.esp_message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"


@pytest.mark.parametrize(
    "status", [Digest.Status.PENDING, Digest.Status.SENT, Digest.Status.FAILED]
)
def test_an_event_for_a_digest_not_in_doubt_changes_nothing(client, digest, status):
    Digest.objects.filter(pk=digest.pk).update(status=status, esp_message_id="")
    post(client, delivery_event(str(digest.pk)))
    digest.refresh_from_db()
    assert (digest.status, digest.esp_message_id) == (status, "")


@pytest.mark.parametrize("raw", ["", "abc", "١٢", "-3", "999999999", None, 7])
def test_an_event_naming_no_digest_we_know_changes_nothing(client, digest, raw):
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SENDING)
    post(client, delivery_event(raw))
    assert Digest.objects.get(pk=digest.pk).status == Digest.Status.SENDING


def test_a_rejection_settles_it_as_failed_with_the_reason(digest):
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.UNKNOWN)
    event = AnymailTrackingEvent(
        event_type=EventType.REJECTED,
        metadata={"digest_id": str(digest.pk)},
        reject_reason="blocked",
        recipient="ada@example.org",
    )
    assert settle_from_event(event)
    digest.refresh_from_db()
    assert digest.status == Digest.Status.FAILED
    assert "blocked" in digest.error


def test_a_hard_bounce_settles_the_digest_and_still_suppresses_the_reader(client, digest):
    Digest.objects.filter(pk=digest.pk).update(status=Digest.Status.SENDING)
    bounce = {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": "ada@example.org",
        "BouncedAt": "2025-11-06T07:00:00Z",
        "Metadata": {"digest_id": str(digest.pk)},
    }
    post(client, json.dumps(bounce))
    assert Digest.objects.get(pk=digest.pk).status == Digest.Status.SENT  # the ESP took it
    assert Subscriber.objects.get(pk=digest.subscriber_id).status == Subscriber.Status.BOUNCED
