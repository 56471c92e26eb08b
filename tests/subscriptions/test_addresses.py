"""Addresses: every form that takes one refuses what could break a header or reach no one."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from subscriptions.addresses import clean_address
from subscriptions.models import Subscriber
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db

QUOTES = "without quotation marks"
IP = "not an IP address"
LOCAL = "is not a domain on the Internet"
CONTROL = "control characters"

REFUSED = [
    ('"a\x1cb"@example.org', CONTROL),
    ('"a\x0bDate: x"@example.org', CONTROL),
    ('"a\x0cb"@example.org', CONTROL),
    ("ada\u202e@example.org", CONTROL),  # a right-to-left override
    ('"a,b"@example.org', QUOTES),
    ('"victim@example.net"@example.org', QUOTES),
    ('"ada"@example.org', QUOTES),
    ('"a b"@example.org', QUOTES),
    ("x@[127.0.0.1]", IP),
    ("x@[IPv6:::1]", IP),
    ("x@127.0.0.1", IP),
    ("root@localhost", LOCAL),
    ("root@LOCALHOST.", LOCAL),
    ("ada@intranet", LOCAL),
    ("ada@printer.local", LOCAL),
    ("ada@box.localhost", LOCAL),
    ("ada@db.internal", LOCAL),
    ("ada@x.invalid", LOCAL),
    ("ada@x.test", LOCAL),
    ("ada@router.home.arpa", LOCAL),
]
ACCEPTED = [
    "ada@example.org",
    "Ada.Lovelace+papers@Lab.Example.ORG",
    "o'brien@example.co.uk",
    "ada@xn--bcher-kva.de",
]


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def post(path, email):
        data = {"email": email, "topics": ["face-analysis"], "frequency": "daily"}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data)

    return post


def field_errors(response, field="email"):
    return response.context["form"].errors.get(field, [])


@pytest.mark.parametrize(("address", "message"), REFUSED)
def test_the_sign_up_form_refuses_it_with_a_message_next_to_the_field(post, address, message):
    response = post("/subscribe/", address)
    assert response.status_code == 400
    assert any(message in error for error in field_errors(response)), field_errors(response)
    assert message in response.content.decode()
    assert not Subscriber.objects.exists() and mail.outbox == []


@pytest.mark.parametrize(("address", "message"), REFUSED)
def test_the_new_link_form_refuses_it_too(post, address, message):
    make_subscriber(email="ada@example.org", status="pending")
    response = post("/subscribe/resend/", address)
    assert response.status_code == 400
    assert any(message in error for error in field_errors(response)), field_errors(response)
    assert mail.outbox == []


@pytest.mark.parametrize("address", ACCEPTED)
def test_ordinary_addresses_are_taken(post, address):
    assert post("/subscribe/", address)["Location"] == "/subscribe/check-inbox/"
    [email] = mail.outbox
    assert email.to == [clean_address(address)]


def test_the_admin_subscriber_form_refuses_it_and_keeps_the_mailbox(admin_client):
    url = reverse("admin:subscriptions_subscriber_add")
    fields = {"status": "active", "frequency": "daily", "keywords": "[]", "authors": "[]"}
    fields |= {"excluded_keywords": "[]"}
    for prefix in ("feedback", "digests"):
        fields |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = admin_client.post(url, {**fields, "email": "root@localhost"})
    assert response.status_code == 200
    assert LOCAL in response.content.decode()
    assert not Subscriber.objects.exists()

    response = admin_client.post(url, {**fields, "email": " Ada+x@Example.ORG"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.mailbox) == ("Ada+x@example.org", "ada@example.org")


def test_the_admin_test_send_refuses_it(admin_client, seeded):
    person = make_subscriber(email="ada@example.org")
    url = reverse("admin:subscriptions_subscriber_preview", args=[person.pk])
    response = admin_client.post(url, {"address": "x@[127.0.0.1]"})
    assert IP in response.content.decode()
    assert mail.outbox == []


def test_the_model_refuses_it_wherever_it_is_validated():
    subscriber = Subscriber(email='"a,b"@example.org', frequency="daily")
    with pytest.raises(ValidationError, match=QUOTES):
        subscriber.full_clean()
