"""Every "stop mailing this address" path goes through one service, and stays stopped."""

from __future__ import annotations

import logging
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from subscriptions.models import Subscriber
from subscriptions.people.signup import owed_confirmation_ids
from subscriptions.people.suppression import suppress
from subscriptions.tasks import send_owed_confirmations
from tests.factories import make_subscriber
from tests.subscriptions.helpers import link_in, only_email_to

pytestmark = pytest.mark.django_db


def test_it_stops_mail_and_records_when():
    reader = make_subscriber(status=Subscriber.Status.ACTIVE)
    changed = suppress(Subscriber.objects.filter(pk=reader.pk), status=Subscriber.Status.COMPLAINED)
    reader.refresh_from_db()
    assert changed == 1
    assert reader.status == Subscriber.Status.COMPLAINED
    assert reader.unsubscribed_at is not None


def test_it_changes_nothing_the_second_time():
    reader = make_subscriber(status=Subscriber.Status.ACTIVE)
    readers = Subscriber.objects.filter(pk=reader.pk)
    suppress(readers, status=Subscriber.Status.SUPPRESSED)
    first = Subscriber.objects.get(pk=reader.pk).unsubscribed_at
    assert suppress(readers, status=Subscriber.Status.SUPPRESSED) == 0
    assert Subscriber.objects.get(pk=reader.pk).unsubscribed_at == first


def test_it_refuses_a_status_that_keeps_mailing():
    reader = make_subscriber(status=Subscriber.Status.UNSUBSCRIBED)
    with pytest.raises(ValueError, match="does not stop mail"):
        suppress(Subscriber.objects.filter(pk=reader.pk), status=Subscriber.Status.ACTIVE)
    assert Subscriber.objects.get(pk=reader.pk).status == Subscriber.Status.UNSUBSCRIBED


# --- The sign-up form never undoes a suppression -------------------------------------------

FINAL = ["bounced", "complained", "suppressed"]


@pytest.fixture
def sign_up(client, django_capture_on_commit_callbacks):
    """POST the sign-up form and run what it queues, as a worker would."""

    def post(**fields):
        data = {"email": "ada@example.org", "topics": ["face-analysis"], "frequency": "daily"}
        data.update(fields)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/subscribe/", data)

    return post


@pytest.mark.parametrize("status", FINAL)
def test_the_sign_up_form_sends_a_suppressed_address_nothing(
    client, default_topics, sign_up, status
):
    reader = make_subscriber(email="ada@example.org", status=status, keywords=["LoRA"])
    for address in ["ada@example.org", "ADA@Example.org"]:
        response = sign_up(email=address, keywords="spam")
        assert response["Location"] == "/subscribe/check-inbox/"
    assert mail.outbox == []
    reader.refresh_from_db()
    assert reader.status == status
    assert reader.keywords == ["LoRA"]
    assert reader.confirmation_requested_at is None
    # What the person sees is what anyone sees.
    new = sign_up(email="someone-new@example.org")
    assert new["Location"] == response["Location"]
    assert client.get(new["Location"]).content == client.get(response["Location"]).content


def test_a_confirmation_owed_before_a_bounce_is_never_sent(default_topics, sign_up):
    with patch("subscriptions.tasks.send_confirmation.delay"):  # the task message is lost
        sign_up()
    reader = Subscriber.objects.get()
    suppress(Subscriber.objects.filter(pk=reader.pk), status=Subscriber.Status.BOUNCED)
    assert send_owed_confirmations() == 0
    assert mail.outbox == []
    # Nothing is left owed to come back once a claim would have gone stale.
    Subscriber.objects.update(confirmation_claimed_at=timezone.now() - timedelta(days=1))
    assert owed_confirmation_ids() == []
    assert send_owed_confirmations() == 0


def test_a_reader_who_unsubscribed_comes_back_through_a_fresh_sign_up(client, sign_up):
    make_subscriber(email="ada@example.org", status=Subscriber.Status.UNSUBSCRIBED)
    sign_up()
    client.post(link_in(only_email_to("ada@example.org"), "/confirm/"))
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE


# --- An editor lifts a suppression, logged -------------------------------------------------


def _lift(admin_client, *subscribers, confirmed=True):
    data = {"action": "lift_suppression", "_selected_action": [s.pk for s in subscribers]}
    if confirmed:
        data["confirmed"] = "yes"
    return admin_client.post(reverse("admin:subscriptions_subscriber_changelist"), data)


@pytest.mark.parametrize("status", FINAL)
def test_an_editor_lifts_a_suppression_logged_then_a_fresh_sign_up_works(
    admin_client, client, default_topics, sign_up, caplog, status
):
    reader = make_subscriber(email="ada@example.org", status=status, soft_bounces=3)
    page = _lift(admin_client, reader, confirmed=False)
    assert "Lift the suppression?" in page.content.decode()
    assert Subscriber.objects.get().status == status  # asking first changes nothing

    with caplog.at_level(logging.WARNING, logger="subscriptions.people.suppression"):
        _lift(admin_client, reader)
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED  # still sent nothing
    assert reader.soft_bounces == 0
    entry = LogEntry.objects.get(object_id=str(reader.pk))
    assert entry.get_change_message() == (
        f"Suppression lifted (was {status}): a fresh sign-up can be confirmed again."
    )
    assert entry.user.username == "admin"
    assert f"suppression of subscriber {reader.pk} ({status}) lifted by admin" in caplog.text
    assert mail.outbox == []

    sign_up()
    client.post(link_in(only_email_to("ada@example.org"), "/confirm/"))
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE


def test_lifting_leaves_everyone_else_as_they_were(admin_client):
    others = [make_subscriber(status=status) for status in ["active", "pending", "unsubscribed"]]
    _lift(admin_client, *others)
    assert [Subscriber.objects.get(pk=s.pk).status for s in others] == [
        "active",
        "pending",
        "unsubscribed",
    ]
    assert not LogEntry.objects.exists()


# --- Deleting one's data does not undo a suppression ------------------------------------


@pytest.mark.parametrize("status", FINAL)
def test_an_address_that_stopped_for_good_gets_nothing_after_its_data_is_deleted(
    default_topics, sign_up, status
):
    from subscriptions.models import StoppedAddress
    from subscriptions.people.privacy import delete_personal_data

    reader = make_subscriber(email="ada@example.org", status=status)
    delete_personal_data(subscriber=reader)
    assert not Subscriber.objects.exists()
    # What is kept names nobody: a keyed hash of the mailbox, and why mail stopped.
    [kept] = StoppedAddress.objects.all()
    assert "ada" not in kept.key and kept.status == status

    for address in ["ada@example.org", "Ada+news@Example.org"]:
        assert sign_up(email=address)["Location"] == "/subscribe/check-inbox/"
    assert mail.outbox == []
    # The suppression is a row again, for an editor to lift like any other.
    again = Subscriber.objects.get(email="ada@example.org")
    assert (again.status, again.confirmation_requested_at) == (status, None)


def test_an_editor_can_lift_a_suppression_that_outlived_its_data(
    admin_client, default_topics, sign_up
):
    from subscriptions.models import StoppedAddress
    from subscriptions.people.privacy import delete_personal_data

    delete_personal_data(subscriber=make_subscriber(email="ada@example.org", status="bounced"))
    sign_up()
    again = Subscriber.objects.get()
    admin_client.post(
        "/admin/subscriptions/subscriber/",
        {"action": "lift_suppression", "_selected_action": [again.pk], "confirmed": "yes"},
    )
    again.refresh_from_db()
    assert again.status == "unsubscribed"
    assert not StoppedAddress.objects.exists()
    sign_up()
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]


def test_a_reader_who_unsubscribed_and_deleted_their_data_can_come_back(default_topics, sign_up):
    from subscriptions.models import StoppedAddress
    from subscriptions.people.privacy import delete_personal_data

    delete_personal_data(subscriber=make_subscriber(email="ada@example.org", status="unsubscribed"))
    assert not StoppedAddress.objects.exists()
    sign_up()
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]


def test_an_editor_cannot_undo_a_suppression_by_editing_the_status(admin_client, default_topics):
    reader = make_subscriber(email="ada@example.org", status="complained")
    url = f"/admin/subscriptions/subscriber/{reader.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="status"' not in page  # shown, not editable: the actions do it, logged
    admin_client.post(url, {"email": "ada@example.org", "status": "active", "frequency": "daily"})
    reader.refresh_from_db()
    assert reader.status == "complained"
