"""The links in emails: one purpose each, preferences links that expire, keys that rotate,
test sends whose links change nothing (issue 19, finding 5)."""

import time
from datetime import date
from urllib.parse import urlsplit

import pytest
from django.core import mail, signing
from django.test import Client
from django.urls import reverse

from papers.models import Paper, Topic
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Feedback, Subscriber
from tests.factories import make_subscriber
from tests.subscriptions.helpers import html_part, link_in, only_email_to

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)
ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def ada(seeded):
    return make_subscriber(
        email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")]
    )


@pytest.fixture
def digest_email(ada):
    run_in_process(day=DAY, frequency="daily")
    return only_email_to("ada@example.org")


def token_of(path):
    """The token in a link's path: /preferences/<token>/, /digest/view/<token>/<id>/..."""
    parts = [part for part in path.split("?")[0].split("/") if part]
    return parts[2] if parts[0] == "digest" else parts[1]


def one_click(path_or_url):
    """What a mail client does with List-Unsubscribe: a cookie-less POST (RFC 8058)."""
    return Client(enforce_csrf_checks=True).post(
        urlsplit(path_or_url).path, ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )


def links_of(email):
    return {
        "preferences": link_in(email, "/preferences/"),
        "unsubscribe": link_in(email, "/unsubscribe/"),
        "feedback": link_in(email, "/feedback/"),
        "view": link_in(email, "/digest/view/"),
    }


def assert_status(ada, status):
    ada.refresh_from_db()
    assert ada.status == status


def test_each_link_of_a_digest_does_its_own_thing_only(client, ada, digest_email):
    links = links_of(digest_email)
    tokens = {purpose: token_of(path) for purpose, path in links.items()}
    assert len(set(tokens.values())) == 4  # a token of its own for each purpose

    for purpose, token in tokens.items():
        if purpose != "preferences":
            assert client.get(f"/preferences/{token}/").status_code == 404, purpose
            assert client.post(f"/preferences/{token}/delete/").status_code == 404, purpose
        if purpose != "unsubscribe":
            assert client.post(f"/unsubscribe/{token}/").status_code == 404, purpose
            assert one_click(f"/unsubscribe/{token}/one-click/").status_code == 404, purpose
        if purpose != "feedback":
            feedback = links["feedback"].replace(tokens["feedback"], token)
            assert client.post(feedback).status_code == 404, purpose
    assert Subscriber.objects.filter(pk=ada.pk).exists()
    assert_status(ada, Subscriber.Status.ACTIVE)
    assert not Feedback.objects.exists()

    # Each still does what it is for.
    assert client.get(links["preferences"]).status_code == 200
    assert client.get(links["view"]).status_code == 200
    assert client.post(links["feedback"]).status_code == 200
    list_unsubscribe = digest_email.extra_headers["List-Unsubscribe"].strip("<>")
    assert tokens["unsubscribe"] in list_unsubscribe
    assert one_click(list_unsubscribe).status_code == 200
    assert_status(ada, Subscriber.Status.UNSUBSCRIBED)


def test_a_preferences_link_expires_and_offers_to_email_a_new_one(client, settings, digest_email):
    path = link_in(digest_email, "/preferences/")
    settings.PREFERENCES_LINK_MAX_AGE_DAYS = -1  # every link is now too old
    page = client.get(path)
    assert page.status_code == 410
    assert "This link has expired" in page.content.decode()
    assert "Email me a new link" in page.content.decode()
    assert client.post(path, {"action": "pause"}).status_code == 410
    assert client.post(f"{path}delete/").status_code == 410
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE


def test_unsubscribe_and_feedback_links_keep_working_long_after(client, ada):
    from subscriptions.people.tokens import Purpose, make_token

    made = time.time() - 400 * 24 * 3600
    feedback = make_token(ada, Purpose.FEEDBACK, issued_at=int(made))
    unsubscribe = make_token(ada, Purpose.UNSUBSCRIBE, issued_at=int(made))
    paper = Paper.objects.first()
    response = client.post(f"/feedback/{feedback}/?paper={paper.pk}&signal=more")
    assert response.status_code == 200
    assert Feedback.objects.get().signal == 1
    assert one_click(f"/unsubscribe/{unsubscribe}/one-click/").status_code == 200
    assert_status(ada, Subscriber.Status.UNSUBSCRIBED)


def test_a_page_opened_by_a_lasting_link_hands_out_no_fresh_preferences_link(
    client, ada, digest_email
):
    # A feedback or view link never expires; the preferences link on its page is dated as
    # the link was, so it expires when the one in the email does.
    from subscriptions.people.tokens import Purpose, make_token

    made = int(time.time()) - 40 * 24 * 3600
    feedback = make_token(ada, Purpose.FEEDBACK, issued_at=made)
    paper = Paper.objects.first()
    page = client.post(f"/feedback/{feedback}/?paper={paper.pk}&signal=less").content.decode()
    [preferences] = [
        part.split('"')[0] for part in page.split('href="')[1:] if "/preferences/" in part
    ]
    assert client.get(preferences).status_code == 410

    digest_id = link_in(digest_email, "/digest/view/").rstrip("/").rsplit("/", 1)[1]
    view = make_token(ada, Purpose.VIEW, issued_at=made)
    html = client.get(f"/digest/view/{view}/{digest_id}/").content.decode()
    preferences = html.split("/preferences/")[1].split("/")[0]
    assert client.get(f"/preferences/{preferences}/").status_code == 410


def test_the_view_in_browser_page_is_the_email_itself(client, digest_email):
    page = client.get(link_in(digest_email, "/digest/view/"))
    assert page.content.decode() == html_part(digest_email)


@pytest.fixture
def ask(client, django_capture_on_commit_callbacks):
    """POST "email me a new link"; what runs on commit (queueing the email) runs."""

    def post(email):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client.post("/preferences/new-link/", {"email": email})
        return response, callbacks

    return post


def test_email_me_a_new_link_answers_the_same_for_every_address(client, ask):
    make_subscriber(email="ada@example.org")
    make_subscriber(email="paused@example.org", status="paused")
    make_subscriber(email="pending@example.org", status="pending")
    make_subscriber(email="gone@example.org", status="unsubscribed")
    make_subscriber(email="spam@example.org", status="complained")
    answers = set()
    for address in [
        "ada@example.org",
        "paused@example.org",
        "pending@example.org",
        "gone@example.org",
        "spam@example.org",
        "nobody@example.org",
    ]:
        response, callbacks = ask(address)
        answers.add((response.status_code, response["Location"]))
        assert len(callbacks) == 1  # queued through Celery whatever the address
    assert answers == {(302, "/preferences/new-link/sent/")}
    assert "Check your inbox" in client.get("/preferences/new-link/sent/").content.decode()
    # A reader who unsubscribed may ask too (to come back, or for their data); an address
    # that complained is sent nothing, and neither is a sign-up never confirmed.
    assert sorted(address for m in mail.outbox for address in m.to) == [
        "ada@example.org",
        "gone@example.org",
        "paused@example.org",
    ]

    path = link_in(only_email_to("ada@example.org"), "/preferences/")
    assert "ada@example.org" in client.get(path).content.decode()
    gone = client.get(link_in(only_email_to("gone@example.org"), "/preferences/")).content
    assert b"/my-data/" in gone  # an unsubscribed reader can still download their data


def test_email_me_a_new_link_is_limited_per_address_and_per_visitor(client, settings, ask):
    make_subscriber(email="ada@example.org")
    settings.PREFERENCES_LINK_EMAILS_PER_HOUR = 2
    for _ in range(4):
        ask("ADA@example.org")
    assert len(mail.outbox) == 2

    settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = 5
    assert ask("x@example.org")[0].status_code == 302
    assert ask("y@example.org")[0].status_code == 429


def test_the_new_link_form_refuses_a_bad_address_next_to_the_field(client):
    page = client.post("/preferences/new-link/", {"email": "not an address"})
    assert page.status_code == 400
    assert "Enter a valid email address" in page.content.decode()


def test_signing_out_revokes_every_earlier_link_and_emails_a_new_one(
    client, ada, digest_email, django_capture_on_commit_callbacks
):
    links = links_of(digest_email)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(links["preferences"], {"action": "sign_out"})
    assert "Every earlier link is signed out" in page.content.decode()

    assert client.get(links["preferences"]).status_code == 404
    assert client.get(links["view"]).status_code == 404
    assert client.post(links["feedback"]).status_code == 404
    assert not Feedback.objects.exists()
    fresh = link_in(only_email_to("ada@example.org"), "/preferences/")
    assert client.get(fresh).status_code == 200
    # Unsubscribing still works from any digest: it can only stop mail.
    assert one_click(links["unsubscribe"] + "one-click/").status_code == 200
    assert_status(ada, Subscriber.Status.UNSUBSCRIBED)


def test_after_unsubscribing_the_old_links_manage_nothing(client, ada, digest_email):
    links = links_of(digest_email)
    assert client.post(links["unsubscribe"]).status_code == 200
    assert client.get(links["preferences"]).status_code == 404
    assert client.post(links["preferences"], {"action": "resume"}).status_code == 404
    assert client.get(links["view"]).status_code == 404
    assert client.post(links["feedback"]).status_code == 404
    assert not Feedback.objects.exists()
    assert_status(ada, Subscriber.Status.UNSUBSCRIBED)
    # A second click of the unsubscribe link answers the same (RFC 8058 clients retry).
    assert one_click(links["unsubscribe"] + "one-click/").status_code == 200


def test_a_link_made_before_purposes_still_unsubscribes_and_does_nothing_else(client, ada):
    legacy = signing.dumps([ada.pk, ada.manage_key], salt="subscriptions.manage")
    assert client.get(f"/preferences/{legacy}/").status_code == 404
    assert client.post(f"/preferences/{legacy}/delete/").status_code == 404
    assert client.post(f"/feedback/{legacy}/?paper=1&signal=more").status_code == 404
    assert client.get(f"/digest/view/{legacy}/1/").status_code == 404
    assert Subscriber.objects.filter(pk=ada.pk).exists()
    assert "Unsubscribe ada@example.org?" in client.get(f"/unsubscribe/{legacy}/").content.decode()
    for _ in range(2):
        assert one_click(f"/unsubscribe/{legacy}/one-click/").status_code == 200
    assert_status(ada, Subscriber.Status.UNSUBSCRIBED)


def test_a_legacy_link_stops_once_the_transition_is_over(settings, ada):
    legacy = signing.dumps([ada.pk, ada.manage_key], salt="subscriptions.manage")
    settings.LEGACY_UNSUBSCRIBE_LINK_MAX_AGE_DAYS = -1
    assert one_click(f"/unsubscribe/{legacy}/one-click/").status_code == 404
    assert_status(ada, Subscriber.Status.ACTIVE)


def test_a_test_send_carries_no_link_of_the_reader(admin_client, ada):
    url = reverse("admin:subscriptions_subscriber_preview", args=[ada.pk]) + "?day=2025-11-06"
    admin_client.post(url, {"address": "editor@example.org"})
    email = only_email_to("editor@example.org")
    everything = email.body + html_part(email)
    for kind in ["/preferences/", "/unsubscribe/", "/feedback/", "/digest/view/"]:
        assert kind not in everything, kind
    list_unsubscribe = email.extra_headers["List-Unsubscribe"].strip("<>")
    assert "/test-email-link/" in list_unsubscribe
    response = one_click(list_unsubscribe)
    assert response.status_code == 200
    assert_status(ada, Subscriber.Status.ACTIVE)
    page = Client().get(link_in(email, "/test-email-link/"))
    assert "This link is from a test email" in page.content.decode()


def test_an_editors_preview_shows_no_link_of_the_reader(admin_client, settings, ada):
    url = reverse("admin:subscriptions_subscriber_preview", args=[ada.pk]) + "?day=2025-11-06"
    today = admin_client.get(url).content.decode()
    run_in_process(day=DAY, frequency="daily")
    digest = ada.digests.get()
    past = admin_client.get(reverse("admin:subscriptions_digest_preview", args=[digest.pk]))
    for page in (today, past.content.decode()):
        assert "Faceptor" in page
        for kind in ["/preferences/", "/unsubscribe/", "/feedback/", "/digest/view/"]:
            assert f"{settings.SITE_URL}{kind}" not in page, kind
        assert f"{settings.SITE_URL}/test-email-link/" in page


def test_how_long_a_preferences_link_works_is_set_in_the_environment(tmp_path):
    from tests.digest_site.test_settings import read_settings, run

    assert read_settings(tmp_path)["PREFERENCES_LINK_MAX_AGE_DAYS"] == 30
    values = read_settings(tmp_path, PREFERENCES_LINK_MAX_AGE_DAYS="7")
    assert values["PREFERENCES_LINK_MAX_AGE_DAYS"] == 7
    refused = run(tmp_path, "-c", "import digest_site.settings", PREFERENCES_LINK_MAX_AGE_DAYS="0")
    assert "PREFERENCES_LINK_MAX_AGE_DAYS must be a positive integer" in refused.stderr
