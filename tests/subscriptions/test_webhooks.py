import base64
import json
from datetime import timedelta

import pytest
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailersend import MailerSendTrackingWebhookView
from anymail.webhooks.mailjet import MailjetTrackingWebhookView
from anymail.webhooks.mandrill import MandrillCombinedWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sparkpost import SparkPostTrackingWebhookView
from django.utils import timezone

from subscriptions.models import Subscriber, WebhookEvent
from subscriptions.people.bounces import record_tracking_event
from subscriptions.people.signup import confirm
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


def test_a_soft_bounce_through_the_webhook_is_counted_not_suppressed(client):
    ada = make_subscriber(email="ada@example.org")
    # A full mailbox: anymail calls Postmark's "SoftBounce" "bounced", as it does a hard one.
    soft = bounce("ada@example.org", event_id=45, kind="SoftBounce")
    assert post(client, soft, **auth()).status_code == 200
    assert post(client, soft, **auth()).status_code == 200  # a replay counts once
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.ACTIVE
    assert ada.soft_bounces == 1
    assert list(WebhookEvent.objects.values_list("event_type", flat=True)) == ["soft bounce"]


# Each ESP's soft and hard bounce for one address, as its webhook sends them (in the shapes
# anymail's own tests use); both are parsed by anymail's view for that ESP.
def _postmark(soft):
    return _postmark_event(
        json.loads(
            bounce(
                ADDRESS, event_id=46 if soft else 47, kind="SoftBounce" if soft else "HardBounce"
            )
        )
    )


def _brevo(soft):
    payload = {
        "event": "soft_bounce" if soft else "hard_bounce",
        "email": ADDRESS,
        "id": 1,
        "date": "2025-11-06 08:00:00",
        "ts_epoch": 1762416000000,
        "message-id": "<202511060800.1@smtp-relay.mailin.fr>",
        "reason": "452 4.2.2 mailbox full" if soft else "550 5.1.1 no such user",
    }
    return BrevoTrackingWebhookView().esp_to_anymail_event(payload)


def _mandrill(soft):
    payload = {
        "event": "soft_bounce" if soft else "hard_bounce",
        "_id": "1a2b3c",
        "ts": 1762416000,
        "msg": {
            "email": ADDRESS,
            "diag": "452 4.2.2 mailbox full" if soft else "550 5.1.1 no such user",
            "bounce_description": "mailbox_full" if soft else "bad_mailbox",
            "metadata": {},
            "tags": [],
        },
    }
    return MandrillCombinedWebhookView(webhook_key="k").mandrill_tracking_to_anymail_event(payload)


def _mailersend(soft):
    kind = "soft_bounced" if soft else "hard_bounced"
    payload = {
        "type": f"activity.{kind}",
        "created_at": "2025-11-06T08:00:00.000000Z",
        "data": {
            "id": "62f114f8165fe0d8db0288e3" if soft else "62f114f8165fe0d8db0288e4",
            "type": kind,
            "created_at": "2025-11-06T08:00:00.000000Z",
            "email": {
                "message": {"id": "62f114f7165fe0d8db0288e2"},
                "recipient": {"email": ADDRESS},
                "tags": [],
            },
            "morph": {"object": "recipient_bounce", "reason": "mailbox full"},
        },
    }
    return MailerSendTrackingWebhookView(signing_secret="s").esp_to_anymail_event(payload)


def _mailjet(soft):
    payload = {
        "event": "bounce",
        "time": 1762416000,
        "MessageID": 13792286917004336,
        "email": ADDRESS,
        "blocked": False,
        "hard_bounce": not soft,
        "error_related_to": "recipient",
        "error": "quota exceeded" if soft else "user unknown",
    }
    return MailjetTrackingWebhookView().esp_to_anymail_event(payload)


def _amazon_ses(soft):
    ses_event = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Transient" if soft else "Permanent",
            "bounceSubType": "MailboxFull" if soft else "General",
            "bouncedRecipients": [{"emailAddress": ADDRESS}],
        },
        "mail": {"messageId": "0100017a", "destination": [ADDRESS]},
    }
    sns_message = {"MessageId": f"sns-{soft}", "Timestamp": "2025-11-06T08:00:00.000Z"}
    # Made without __init__, which wants boto3 (for SNS); the parsing does not.
    view = AmazonSESTrackingWebhookView.__new__(AmazonSESTrackingWebhookView)
    [event] = view.esp_to_anymail_events(ses_event, sns_message)
    return event


def _sparkpost(soft, bounce_class=None):
    """``bounce_class`` overrides 22 (mailbox full) or 10 (invalid); "none" leaves it out."""
    event = {
        "type": "bounce",
        "bounce_class": bounce_class or ("22" if soft else "10"),
        "event_id": "92356927693813856" if soft else "92356927693813857",
        "raw_rcpt_to": ADDRESS,
        "timestamp": "1762416000",
        "transmission_id": "65832150921904138",
    }
    if bounce_class == "none":
        del event["bounce_class"]
    view = SparkPostTrackingWebhookView()
    return view.esp_to_anymail_event(*view.unwrap_event({"msys": {"message_event": event}}))


ADDRESS = "ada@example.org"
ESPS = {
    "Postmark": _postmark,
    "Brevo": _brevo,
    "Mandrill": _mandrill,
    "MailerSend": _mailersend,
    "Mailjet": _mailjet,
    "Amazon SES": _amazon_ses,
    "SparkPost": _sparkpost,
}


@pytest.mark.parametrize("esp_name", ESPS)
def test_each_esps_soft_bounce_spares_the_reader_and_its_hard_bounce_suppresses(esp_name):
    ada = make_subscriber(email=ADDRESS)
    soft, hard = ESPS[esp_name](soft=True), ESPS[esp_name](soft=False)
    assert soft.event_type == hard.event_type == "bounced"  # anymail tells them apart no more

    assert record_tracking_event(soft, esp_name) is False
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.ACTIVE

    assert record_tracking_event(hard, esp_name) is True
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.BOUNCED


@pytest.mark.parametrize(
    ("bounce_class", "status"),
    [("50", "active"), ("1", "active"), ("30", "bounced"), ("none", "bounced")],
)
def test_sparkpost_suppresses_only_on_its_hard_and_admin_classes(bounce_class, status):
    ada = make_subscriber(email=ADDRESS)
    record_tracking_event(_sparkpost(soft=False, bounce_class=bounce_class), "SparkPost")
    ada.refresh_from_db()
    assert ada.status == status


def soft_bounce(event_id):
    return _postmark_event(json.loads(bounce(ADDRESS, event_id=event_id, kind="SoftBounce")))


def delivery():
    payload = {
        "RecordType": "Delivery",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": ADDRESS,
        "DeliveredAt": "2025-11-06T07:00:00Z",
        "Details": "Test delivery webhook details",
    }
    return _postmark_event(payload)


def _postmark_event(payload):
    return PostmarkTrackingWebhookView().esp_to_anymail_event(payload)


@pytest.fixture
def ada(settings):
    """A reader whose address three soft bounces in a row suppress."""
    settings.SOFT_BOUNCE_LIMIT = 3
    return make_subscriber(email=ADDRESS)


def soft_bounces(*event_ids):
    return [record_tracking_event(soft_bounce(n), "Postmark") for n in event_ids]


def test_soft_bounces_in_a_row_suppress_at_the_limit(ada):
    assert soft_bounces(1, 2, 3) == [False, False, True]
    ada.refresh_from_db()
    assert (ada.status, ada.soft_bounces) == (Subscriber.Status.BOUNCED, 3)


def test_a_delivery_between_soft_bounces_starts_the_count_again(ada):
    soft_bounces(1, 2)
    assert record_tracking_event(delivery(), "Postmark") is False
    ada.refresh_from_db()
    assert ada.soft_bounces == 0
    assert soft_bounces(3, 4) == [False, False]
    ada.refresh_from_db()
    assert (ada.status, ada.soft_bounces) == (Subscriber.Status.ACTIVE, 2)


def test_a_soft_bounce_long_after_the_last_counts_as_the_first(ada, settings):
    soft_bounces(1, 2)
    long_ago = timezone.now() - timedelta(days=settings.SOFT_BOUNCE_WINDOW_DAYS + 1)
    Subscriber.objects.filter(pk=ada.pk).update(last_soft_bounce_at=long_ago)
    assert soft_bounces(3) == [False]
    ada.refresh_from_db()
    assert (ada.status, ada.soft_bounces) == (Subscriber.Status.ACTIVE, 1)


def test_confirming_again_clears_the_soft_bounces(ada):
    soft_bounces(1, 2, 3)
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.BOUNCED
    assert confirm(ada) is True  # they signed up again and clicked the link we sent them
    ada.refresh_from_db()
    assert (ada.status, ada.soft_bounces) == (Subscriber.Status.ACTIVE, 0)
    assert soft_bounces(4) == [False]
