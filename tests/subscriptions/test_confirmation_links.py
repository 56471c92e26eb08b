"""A confirmation link confirms the sign-up it was made for, and nothing later (issue 19,
finding 1: an old link made an unsubscribed, suppressed or complained reader active)."""

import pytest

from subscriptions.models import Subscriber
from subscriptions.people.preferences import unsubscribe
from subscriptions.people.suppression import suppress
from subscriptions.people.tokens import confirmation_token
from tests.factories import make_subscriber
from tests.subscriptions.helpers import link_in, only_email_to
from tests.subscriptions.test_webhooks import SECRET, URL, auth, complaint

pytestmark = pytest.mark.django_db


@pytest.fixture
def sign_up(client, django_capture_on_commit_callbacks):
    def post(email="ada@example.org"):
        data = {"email": email, "topics": ["face-analysis"], "frequency": "daily"}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/subscribe/", data)

    return post


def status_of(email="ada@example.org"):
    return Subscriber.objects.get(email=email).status


def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(client, sign_up):
    sign_up()
    confirm = link_in(only_email_to("ada@example.org"), "/confirm/")
    assert "You're subscribed!" in client.post(confirm).content.decode()
    unsubscribe(Subscriber.objects.get())
    assert status_of() == Subscriber.Status.UNSUBSCRIBED

    again = client.post(confirm)
    assert again.status_code == 400
    assert "This link does not work" in again.content.decode()
    assert client.get(confirm).status_code == 400
    assert status_of() == Subscriber.Status.UNSUBSCRIBED


@pytest.mark.parametrize(
    "status",
    [Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED, Subscriber.Status.SUPPRESSED],
)
def test_a_confirmation_link_made_before_mail_stopped_confirms_nothing(client, sign_up, status):
    sign_up()
    confirm = link_in(only_email_to("ada@example.org"), "/confirm/")
    suppress(Subscriber.objects.all(), status=status)
    assert client.post(confirm).status_code == 400
    assert status_of() == status


@pytest.mark.parametrize(
    "status",
    [Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED, Subscriber.Status.SUPPRESSED],
)
def test_no_confirmation_link_lifts_what_someone_else_decided(client, status):
    # Even one made after mail stopped (a confirmation owed before a complaint arrived and
    # sent after it): only an editor lifts a bounce, a complaint or a suppression.
    reader = make_subscriber(email="ada@example.org", status=status)
    confirm = f"/confirm/{confirmation_token(reader)}/"
    assert client.get(confirm).status_code == 400
    assert client.post(confirm).status_code == 400
    assert status_of() == status


def test_a_complaint_from_the_esp_revokes_the_pending_confirmation(client, settings, sign_up):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
    sign_up()
    confirm = link_in(only_email_to("ada@example.org"), "/confirm/")
    key = Subscriber.objects.get().manage_key
    event = client.post(
        URL, complaint("ada@example.org"), content_type="application/json", **auth()
    )
    assert event.status_code == 200
    assert Subscriber.objects.get().manage_key != key
    assert client.post(confirm).status_code == 400
    assert status_of() == Subscriber.Status.COMPLAINED


def test_a_fresh_sign_up_after_unsubscribing_confirms_as_before(client, sign_up):
    make_subscriber(email="ada@example.org", status="unsubscribed")
    sign_up()
    confirm = link_in(only_email_to("ada@example.org"), "/confirm/")
    assert "You're subscribed!" in client.post(confirm).content.decode()
    assert status_of() == Subscriber.Status.ACTIVE
