import pytest
from django.core import signing

from subscriptions.models import Subscriber
from subscriptions.people.tokens import preferences_token, unsubscribe_token
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber():
    return make_subscriber(email="ada@example.org", keywords=["LoRA"])


@pytest.fixture
def token(subscriber):
    return preferences_token(subscriber)


@pytest.fixture
def unsubscribe(subscriber):
    return unsubscribe_token(subscriber)


def test_preferences_show_and_change_interests(client, subscriber, token):
    page = client.get(f"/preferences/{token}/")
    assert page.status_code == 200
    assert "ada@example.org" in page.content.decode()
    assert "LoRA</textarea>" in page.content.decode()

    response = client.post(
        f"/preferences/{token}/",
        {
            "action": "save",
            "topics": ["segmentation", "face-analysis"],
            "keywords": "diffusion, model merging",
            "authors": "",
            "excluded_keywords": "medical",
            "frequency": "weekly",
        },
    )
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.keywords == ["diffusion", "model merging"]
    assert subscriber.excluded_keywords == ["medical"]
    assert subscriber.frequency == "weekly"
    assert sorted(subscriber.topics.values_list("slug", flat=True)) == [
        "face-analysis",
        "segmentation",
    ]
    assert "Saved" in client.get(f"/preferences/{token}/").content.decode()


def test_bad_preferences_are_refused_with_a_message(client, subscriber, token):
    response = client.post(
        f"/preferences/{token}/",
        {"action": "save", "keywords": "", "topics": [], "frequency": "daily"},
    )
    assert response.status_code == 400
    assert "Choose at least one topic, keyword or author" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.keywords == ["LoRA"]


def test_pause_and_resume(client, subscriber, token):
    client.post(f"/preferences/{token}/", {"action": "pause"})
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PAUSED
    assert "Resume my digest" in client.get(f"/preferences/{token}/").content.decode()
    client.post(f"/preferences/{token}/", {"action": "resume"})
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE


def test_a_get_never_unsubscribes(client, subscriber, unsubscribe):
    page = client.get(f"/unsubscribe/{unsubscribe}/")
    assert page.status_code == 200
    assert "Unsubscribe ada@example.org?" in page.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE

    done = client.post(f"/unsubscribe/{unsubscribe}/")
    assert "You're unsubscribed" in done.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.unsubscribed_at is not None


def test_one_click_unsubscribe_needs_no_cookie_or_csrf_and_repeats_harmlessly(
    subscriber, unsubscribe
):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    url = f"/unsubscribe/{unsubscribe}/one-click/"
    body = "List-Unsubscribe=One-Click"
    for _ in range(2):
        response = strict.post(url, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    # A mail client that merely opens the address gets the confirmation page.
    page = strict.get(url)
    assert page.status_code == 200
    assert b"Unsubscribe ada@example.org?" in page.content


def test_one_click_wants_the_rfc_8058_body(client, subscriber, unsubscribe):
    response = client.post(f"/unsubscribe/{unsubscribe}/one-click/", {"something": "else"})
    assert response.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE


def test_other_forms_need_a_csrf_token(subscriber, unsubscribe):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"/unsubscribe/{unsubscribe}/").status_code == 403
    assert strict.post("/subscribe/", {"email": "x@example.org"}).status_code == 403


def test_delete_all_my_data_really_deletes(client, subscriber, token):
    assert "Delete all your data?" in client.get(f"/preferences/{token}/delete/").content.decode()
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()
    response = client.post(f"/preferences/{token}/delete/")
    assert "Your data is deleted" in response.content.decode()
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert client.get(f"/preferences/{token}/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/preferences/nonsense/",
        "/preferences/nonsense/delete/",
        "/unsubscribe/nonsense/",
        "/confirm/nonsense/",
    ],
)
def test_malformed_tokens_get_a_4xx(client, path):
    assert 400 <= client.get(path).status_code < 500


def test_a_token_for_someone_else_does_not_work(client, subscriber):
    forged = signing.dumps([subscriber.pk, "guessed-key"], salt="subscriptions.manage")
    assert client.get(f"/preferences/{forged}/").status_code == 404
