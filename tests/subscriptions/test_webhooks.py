import base64
import json

import pytest

from subscriptions.models import Subscriber, WebhookEvent
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db

URL = "/anymail/postmark/tracking/"
SECRET = "esp:s3cret-webhook-password"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


def auth(secret=SECRET):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def bounce(email, event_id=42, kind="HardBounce"):
    return json.dumps(
        {
            "RecordType": "Bounce",
            "ID": event_id,
            "Type": kind,
            "TypeCode": 1,
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Email": email,
            "BouncedAt": "2025-11-06T07:00:00Z",
            "Description": "The server was unable to deliver your message",
            "Details": "smtp;550 5.1.1 The email account does not exist",
        }
    )


def complaint(email):
    return json.dumps(
        {
            "RecordType": "SpamComplaint",
            "ID": 43,
            "Type": "SpamComplaint",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79484",
            "Email": email,
            "BouncedAt": "2025-11-06T07:00:00Z",
        }
    )


def post(client, body, **headers):
    return client.post(URL, body, content_type="application/json", **headers)


def test_a_hard_bounce_suppresses_the_subscriber(client):
    ada = make_subscriber(email="ada@example.org")
    assert post(client, bounce("ADA@example.org"), **auth()).status_code == 200
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.BOUNCED


def test_a_complaint_suppresses_the_subscriber(client):
    ada = make_subscriber(email="ada@example.org")
    post(client, complaint("ada@example.org"), **auth())
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.COMPLAINED


def test_a_replayed_event_is_processed_once(client):
    ada = make_subscriber(email="ada@example.org")
    post(client, bounce("ada@example.org"), **auth())
    # The subscriber comes back through double opt-in; an old replayed event must not undo it.
    Subscriber.objects.filter(pk=ada.pk).update(status="active")
    assert post(client, bounce("ada@example.org"), **auth()).status_code == 200
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.ACTIVE
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize("headers", [{}, auth("esp:wrong"), auth("")])
def test_wrong_or_missing_credentials_change_nothing(client, headers):
    ada = make_subscriber(email="ada@example.org")
    response = post(client, bounce("ada@example.org"), **headers)
    assert response.status_code in (400, 401, 403)
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.ACTIVE
    assert not WebhookEvent.objects.exists()


def test_without_a_configured_secret_every_call_is_refused(client, settings):
    from django.conf import settings as live

    settings.ANYMAIL = {**live.ANYMAIL, "WEBHOOK_SECRET": "unset:random-nobody-knows"}
    ada = make_subscriber(email="ada@example.org")
    assert post(client, bounce("ada@example.org")).status_code == 400
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.ACTIVE


def test_a_delivery_delay_changes_nothing(client):
    ada = make_subscriber(email="ada@example.org")
    # Postmark's "Transient" is anymail's "deferred": the ESP will try again.
    post(client, bounce("ada@example.org", event_id=44, kind="Transient"), **auth())
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.ACTIVE
