"""What typing someone's address into the form can send them: little, and not often."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from subscriptions.addresses import mailbox_of
from subscriptions.models import Subscriber
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def sign_up(client, django_capture_on_commit_callbacks):
    def post(email, path="/subscribe/"):
        data = {"email": email, "topics": ["face-analysis"], "frequency": "daily"}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data)

    return post


def hours_pass(hours: float) -> None:
    Subscriber.objects.update(confirmation_requested_at=timezone.now() - timedelta(hours=hours))


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        ("Ada@example.org", "ada@example.org"),
        ("ada+papers@Example.ORG", "ada@example.org"),
        ("a.da@example.org", "a.da@example.org"),  # dots matter at most providers
        ("Ada.Lovelace+x+y@gmail.com", "adalovelace@gmail.com"),
        ("a.d.a.lovelace@googlemail.com", "adalovelace@gmail.com"),
        ("+weird@example.org", "+weird@example.org"),  # no name before the tag: kept whole
    ],
)
def test_the_mailbox_an_address_delivers_to(address, mailbox):
    assert mailbox_of(address) == mailbox


def test_variants_of_one_mailbox_get_one_confirmation_an_hour(sign_up):
    variants = [
        "ada.lovelace+1@gmail.com",
        "adalovelace+2@googlemail.com",
        "Ada.Lovelace@gmail.com",
        "a.d.a.lovelace@gmail.com",
    ]
    for address in variants:
        assert sign_up(address)["Location"] == "/subscribe/check-inbox/"
    assert [message.to for message in mail.outbox] == [["ada.lovelace+1@gmail.com"]]
    sign_up("grace@gmail.com")  # another mailbox
    assert len(mail.outbox) == 2

    hours_pass(2)
    sign_up("a.d.a.lovelace+3@gmail.com")
    assert mail.outbox[-1].to == ["a.d.a.lovelace+3@gmail.com"]
    assert len(mail.outbox) == 3


def test_tags_count_as_one_mailbox_anywhere_dots_only_where_ignored(sign_up):
    sign_up("ada+a@example.org")
    sign_up("ada+b@example.org")
    sign_up("ADA@example.org")
    sign_up("a.da@example.org")  # another mailbox at most providers
    assert [message.to for message in mail.outbox] == [["ada+a@example.org"], ["a.da@example.org"]]


def test_a_resend_counts_against_the_mailbox_too(sign_up):
    make_subscriber(email="ada+old@example.org", status="pending")
    sign_up("ada@example.org")
    assert len(mail.outbox) == 1
    sign_up("ada+old@example.org", path="/subscribe/resend/")
    assert len(mail.outbox) == 1


def test_a_subscriber_is_told_already_subscribed_at_most_once_a_day(sign_up):
    make_subscriber(email="ada@example.org", status="active")
    sign_up("ada@example.org")
    assert [message.subject for message in mail.outbox] == [
        "You are already subscribed to Paper Digest"
    ]
    hours_pass(2)
    sign_up("ada@example.org")
    assert len(mail.outbox) == 1
    hours_pass(23)
    sign_up("ada@example.org")
    assert len(mail.outbox) == 1
    hours_pass(25)
    sign_up("ada@example.org")
    assert len(mail.outbox) == 2
