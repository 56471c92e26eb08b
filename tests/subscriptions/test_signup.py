from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from papers.models import Topic
from subscriptions.models import Subscriber
from subscriptions.people.signup import send_owed_confirmation
from subscriptions.tasks import send_owed_confirmations
from subscriptions.views import client_ip
from tests.factories import make_subscriber
from tests.reliability.services import require_postgresql
from tests.subscriptions.helpers import assert_in_both_parts, link_in, only_email_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def sign_up(client, django_capture_on_commit_callbacks):
    """POST the sign-up form; what runs on commit (queueing the email) runs as it would."""

    def post(path="/subscribe/", **fields):
        data = {"email": "ada@example.org", "topics": ["face-analysis"], "frequency": "daily"}
        data.update(fields)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data)

    return post


def test_it_saves_a_pending_subscriber_and_sends_a_confirmation(client, sign_up):
    response = sign_up(keywords="model merging, LoRA", authors="Ada Lovelace")
    assert response.status_code == 302
    assert response["Location"] == "/subscribe/check-inbox/"
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.keywords == ["model merging", "LoRA"]
    assert subscriber.authors == ["Ada Lovelace"]
    assert list(subscriber.topics.values_list("slug", flat=True)) == ["face-analysis"]

    email = only_email_to("ada@example.org")
    assert email.subject == "Confirm your Paper Digest subscription"
    assert_in_both_parts(email, "/confirm/")
    assert "model merging" not in email.body + email.alternatives[0][0]


def test_the_confirmation_carries_no_text_a_stranger_typed(client, sign_up):
    sign_up(keywords="Buy cheap pills at spam.example", authors="Visit spam.example")
    email = only_email_to("ada@example.org")
    everything = email.subject + email.body + email.alternatives[0][0]
    assert "spam.example" not in everything
    assert "pills" not in everything


def test_confirming_activates_and_twice_is_harmless(client, sign_up):
    sign_up()
    path = link_in(only_email_to("ada@example.org"), "/confirm/")
    page = client.get(path)
    assert "Confirm my subscription" in page.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING  # a GET confirms nothing

    assert "You're subscribed!" in client.post(path).content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE
    again = client.post(path)
    assert again.status_code == 200
    assert "already subscribed" in again.content.decode()


def test_every_state_gets_the_same_answer(client, sign_up):
    make_subscriber(email="active@example.org", status="active")
    make_subscriber(email="pending@example.org", status="pending")
    make_subscriber(email="gone@example.org", status="unsubscribed")
    answers = {
        sign_up(email=address)["Location"]
        for address in [
            "new@example.org",
            "active@example.org",
            "pending@example.org",
            "gone@example.org",
        ]
    }
    assert answers == {"/subscribe/check-inbox/"}


def test_an_active_subscriber_is_told_not_changed(client, sign_up):
    faces = Topic.objects.get(slug="face-analysis")
    make_subscriber(email="ada@example.org", keywords=["LoRA"], topics=[faces])
    sign_up(topics=["segmentation"], keywords="spam")
    subscriber = Subscriber.objects.get()
    assert subscriber.keywords == ["LoRA"]
    assert list(subscriber.topics.all()) == [faces]
    email = only_email_to("ada@example.org")
    assert email.subject == "You are already subscribed to Paper Digest"
    assert_in_both_parts(email, "/preferences/")


def test_an_unsubscribed_person_can_come_back(client, sign_up):
    make_subscriber(email="ada@example.org", status="unsubscribed")
    sign_up()
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED
    client.post(link_in(only_email_to("ada@example.org"), "/confirm/"))
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE


def test_addresses_are_normalised_to_one_subscriber(client, sign_up):
    sign_up(email="  Ada@Example.ORG ")
    sign_up(email="ada@example.org")
    sign_up(email="ADA@example.org")
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["Ada@example.org"]


def test_at_most_one_confirmation_an_hour_per_address(client, sign_up):
    for _ in range(3):
        sign_up()
    assert len(mail.outbox) == 1
    Subscriber.objects.update(confirmation_requested_at=timezone.now() - timedelta(hours=2))
    sign_up()
    assert len(mail.outbox) == 2


def test_too_many_attempts_from_one_address_are_refused(client, settings, sign_up):
    settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = 3
    codes = [sign_up(email=f"p{i}@example.org").status_code for i in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert Subscriber.objects.count() == 3


def test_a_filled_honeypot_looks_accepted_but_does_nothing(client, sign_up):
    response = sign_up(website="http://spam.example")
    assert response["Location"] == "/subscribe/check-inbox/"
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-address"}, "email", "Enter a valid email address"),
        ({"email": "a" * 250 + "@example.org"}, "email", "at most 254 characters"),
        ({"email": "ada@example.org\r\nBcc: all@example.org"}, "email", "line breaks"),
        ({"email": "ada@example.org\n"}, "email", "line breaks"),
        ({"email": '"a\x1cb"@example.org'}, "email", "control characters"),
        ({"email": '"a\x0bDate: x"@example.org'}, "email", "control characters"),
        ({"email": "ada\u2028@example.org"}, "email", "control characters"),
        ({"keywords": ", ".join(f"k{i}" for i in range(21))}, "keywords", "At most 20"),
        ({"keywords": "x" * 320}, "keywords", "too long"),
        ({"topics": ["astrology"]}, "topics", "Unknown topic: astrology"),
        ({"topics": []}, None, "Choose at least one topic, keyword or author"),
    ],
)
def test_bad_input_gets_a_message_next_to_the_field(sign_up, fields, field, message):
    response = sign_up(**fields)
    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field or "__all__", [])
    assert any(message in error for error in errors), form.errors
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Subscriber.objects.exists()


def test_html_typed_into_the_form_is_escaped_on_the_page(sign_up):
    response = sign_up(email="<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_a_lost_task_is_made_up_by_the_sweep(sign_up, monkeypatch):
    # The broker is down: queueing fails, the request still succeeds.
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("subscriptions.tasks.send_confirmation.delay", broker_down)
    response = sign_up()
    assert response.status_code == 302
    assert mail.outbox == []
    assert send_owed_confirmations() == 1
    assert send_owed_confirmations() == 0
    only_email_to("ada@example.org")


def test_a_confirmation_is_sent_once_even_if_asked_twice():
    subscriber = make_subscriber(status="pending", confirmation_requested_at=timezone.now())
    assert send_owed_confirmation(subscriber_id=subscriber.pk) is True
    assert send_owed_confirmation(subscriber_id=subscriber.pk) is False
    assert len(mail.outbox) == 1


def test_a_failed_send_stays_owed(monkeypatch):
    subscriber = make_subscriber(status="pending", confirmation_requested_at=timezone.now())
    monkeypatch.setattr(
        "django.core.mail.EmailMessage.send", lambda self: (_ for _ in ()).throw(OSError("down"))
    )
    with pytest.raises(OSError):
        send_owed_confirmation(subscriber_id=subscriber.pk)
    monkeypatch.undo()
    assert send_owed_confirmation(subscriber_id=subscriber.pk) is True
    assert len(mail.outbox) == 1


def test_a_tampered_or_expired_link_offers_a_new_one(client, settings, sign_up):
    sign_up()
    path = link_in(only_email_to("ada@example.org"), "/confirm/")
    tampered = client.get(path[:-3] + "xyz/")
    assert tampered.status_code == 400
    assert "This link does not work" in tampered.content.decode()
    settings.CONFIRMATION_MAX_AGE_DAYS = -1
    expired = client.get(path)
    assert "This link has expired" in expired.content.decode()

    Subscriber.objects.update(confirmation_requested_at=timezone.now() - timedelta(hours=2))
    response = sign_up("/subscribe/resend/")
    assert response["Location"] == "/subscribe/check-inbox/"
    assert len(mail.outbox) == 2
    unknown = sign_up("/subscribe/resend/", email="nobody@example.org")
    assert unknown["Location"] == "/subscribe/check-inbox/"
    assert len(mail.outbox) == 2


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "198.51.100.7", "203.0.113.9"),  # no proxy: the header is the client's
        (1, "127.0.0.1", "203.0.113.1", "203.0.113.1"),
        (1, "127.0.0.1", "198.51.100.7, 203.0.113.1", "203.0.113.1"),  # a forged first hop
        (2, "127.0.0.1", "198.51.100.7, 203.0.113.1, 10.0.0.2", "203.0.113.1"),
        (1, "127.0.0.1", "", "127.0.0.1"),  # a proxy that added nothing: its own address
    ],
)
def test_the_client_address_behind_trusted_proxies(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post("/subscribe/", REMOTE_ADDR=remote)
    if forwarded:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(request) == expected


def test_behind_a_proxy_each_visitor_has_a_limit_of_their_own(client, settings):
    settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = 2
    settings.TRUSTED_PROXY_COUNT = 1

    def attempt(number, forwarded):
        data = {
            "email": f"p{number}@example.org",
            "topics": ["face-analysis"],
            "frequency": "daily",
        }
        headers = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded}
        return client.post("/subscribe/", data, **headers).status_code

    assert [attempt(n, "203.0.113.1") for n in range(3)] == [302, 302, 429]
    assert attempt(3, "203.0.113.2") == 302  # another visitor, the same proxy
    assert attempt(4, "198.51.100.7, 203.0.113.1") == 429  # a made-up first hop changes nothing


def test_an_address_is_found_whatever_its_case():
    ada = make_subscriber(email="Ada.Lovelace@example.org")
    assert list(Subscriber.objects.with_email("ada.lovelace@EXAMPLE.org")) == [ada]
    assert not Subscriber.objects.with_email("ada@example.org").exists()


@pytest.mark.redis  # needs PostgreSQL: the SQLite pass of CI deselects it with the Redis tests
def test_an_address_is_looked_up_by_the_unique_index_not_a_table_scan():
    require_postgresql()
    make_subscriber(email="ada@example.org")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # any index that applies is used
        plan = Subscriber.objects.with_email("ADA@example.org").explain()
    # Either index on lower(email) answers it: the unique one, or the prefix one the admin's
    # search uses (text_pattern_ops serves equality too).
    assert "subscriber_unique_email_ci" in plan or "subscriber_email_prefix" in plan, plan
    assert "Seq Scan" not in plan, plan


# What an address can be when someone types it into a form; "new" has no row.
STATES = [
    "new",
    "pending",
    "active",
    "paused",
    "unsubscribed",
    "bounced",
    "complained",
    "suppressed",
]


def _work_of(post, monkeypatch, task: str):
    """The statements a POST runs (their kind and table) and the tasks it queues."""
    queued: list[tuple] = []
    monkeypatch.setattr(f"subscriptions.tasks.{task}.delay", lambda *args: queued.append(args))
    with CaptureQueriesContext(connection) as queries:
        response = post()
    assert response["Location"] == "/subscribe/check-inbox/"
    statements = [" ".join(q["sql"].split()[:3]) for q in queries.captured_queries]
    return statements, queued


@pytest.mark.parametrize("state", STATES[1:])
def test_a_sign_up_does_the_same_work_whatever_the_address(client, sign_up, monkeypatch, state):
    make_subscriber(email="known@example.org", status=state, keywords=["LoRA"])
    sign_up(email="first@example.org")  # the per-IP limit's first attempt makes its row
    new, [(new_id,)] = _work_of(
        lambda: sign_up(email="new@example.org"), monkeypatch, "send_confirmation"
    )
    known, queued = _work_of(
        lambda: sign_up(email="known@example.org"), monkeypatch, "send_confirmation"
    )
    # One row read and one written either way (an insert for a new address), one task.
    assert len(known) == len(new), (known, new)
    assert [s.split()[0] for s in known] == [s.split()[0].replace("INSERT", "UPDATE") for s in new]
    assert queued == [(Subscriber.objects.get(email="known@example.org").pk,)]
    assert isinstance(new_id, int)


@pytest.mark.parametrize("state", STATES[1:])
def test_a_resend_does_the_same_work_whatever_the_address(client, sign_up, monkeypatch, state):
    make_subscriber(email="known@example.org", status=state)
    sign_up("/subscribe/resend/", email="first@example.org")  # the per-IP limit's first row
    unknown, [queued_unknown] = _work_of(
        lambda: sign_up("/subscribe/resend/", email="nobody@example.org"),
        monkeypatch,
        "resend_confirmation_to",
    )
    known, [queued_known] = _work_of(
        lambda: sign_up("/subscribe/resend/", email="known@example.org"),
        monkeypatch,
        "resend_confirmation_to",
    )
    assert known == unknown
    assert (queued_unknown, queued_known) == (("nobody@example.org",), ("known@example.org",))


def test_the_queued_task_answers_each_state_as_before(client, sign_up):
    for state in STATES[1:]:
        make_subscriber(email=f"{state}@example.org", status=state)
    for state in STATES:
        sign_up(email=f"{state}@example.org")
    subjects = {m.to[0].split("@")[0]: m.subject for m in mail.outbox}
    confirm = "Confirm your Paper Digest subscription"
    already = "You are already subscribed to Paper Digest"
    assert subjects == {
        "new": confirm,
        "pending": confirm,
        "unsubscribed": confirm,
        "active": already,
        "paused": already,
    }


def test_interests_waiting_for_a_lost_task_are_applied_by_the_sweep(sign_up, monkeypatch):
    monkeypatch.setattr("subscriptions.tasks.send_confirmation.delay", lambda *args: None)
    sign_up(keywords="model merging")
    sign_up(keywords="LoRA")  # within the hour: no second email owed, interests still change
    assert send_owed_confirmations() == 1
    subscriber = Subscriber.objects.get()
    assert subscriber.keywords == ["LoRA"]
    assert list(subscriber.topics.values_list("slug", flat=True)) == ["face-analysis"]
    assert subscriber.requested_interests is None
    assert len(mail.outbox) == 1
