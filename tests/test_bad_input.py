"""Whatever strangers send, the site answers with a page or a 4xx: never a 500."""

import base64

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from subscriptions.models import Subscriber, WebhookEvent
from tests.factories import make_subscriber

NASTY = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "ada@example.org\r\nBcc: all@example.org",
            "<script>alert(1)</script>@example.org",
            "a" * 5000,
            "\x00",
            "\uff46\uff55\uff4c\uff4c@\uff45\uff58.org",  # fullwidth letters
            "ada@exa\u202emple.org",
            "\U0001f600@example.org",
            "',--; DROP TABLE subscriptions_subscriber; --",
        ]
    ),
)


@pytest.mark.django_db
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    email=NASTY, keywords=NASTY, authors=NASTY, topics=st.lists(NASTY, max_size=3), frequency=NASTY
)
def test_the_subscribe_form_never_fails_on_any_input(email, keywords, authors, topics, frequency):
    client = Client()
    data = {"email": email, "keywords": keywords, "authors": authors, "frequency": frequency}
    response = client.post("/subscribe/", {**data, "topics": topics})
    assert response.status_code in (302, 400, 429)
    if response.status_code == 400:
        assert b"<script>alert(1)</script>" not in response.content


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=200), day=st.text(max_size=20), topic=st.text(max_size=30))
@example(query="a\x00b", day="", topic="")
@example(query="", day="2025-11-06\x00", topic="face\x00")
def test_the_paper_pages_never_fail_on_any_query(query, day, topic):
    response = Client().get("/", {"q": query, "day": day, "topic": topic})
    assert response.status_code in (200, 404)


PUBLIC = [
    ("get", "/confirm/x/"),
    ("post", "/confirm/x/"),
    ("get", "/confirm/" + "A" * 3000 + "/"),
    ("get", "/preferences/x/"),
    ("post", "/preferences/x/"),
    ("get", "/preferences/x/delete/"),
    ("post", "/preferences/x/delete/"),
    ("get", "/unsubscribe/x/"),
    ("post", "/unsubscribe/x/"),
    ("post", "/unsubscribe/x/one-click/"),
    ("get", "/feedback/x/"),
    ("post", "/feedback/x/"),
    ("get", "/digest/view/x/"),
    ("get", "/digest/2025-02-30/"),
    ("get", "/papers/0/"),
    ("get", "/papers/99999999999999999999/"),
    ("get", "/topics/nope/rss/"),
    ("put", "/subscribe/"),
    ("delete", "/preferences/x/"),
    ("patch", "/unsubscribe/x/one-click/"),
    ("post", "/subscribe/check-inbox/"),
    ("get", "/subscribe/resend/"),
    ("post", "/subscribe/resend/"),
    ("post", "/"),
    ("post", "/healthz"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), PUBLIC)
def test_malformed_tokens_unknown_ids_and_wrong_methods_get_a_4xx(method, path):
    response = getattr(Client(), method)(path)
    assert 400 <= response.status_code < 500, (method, path, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    ["{not json", "", "[]", "null", '{"RecordType": "Bounce", "Email": []}', "\xff\xfe"],
)
def test_malformed_webhook_bodies_are_refused_and_change_nothing(client, settings, body):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "esp:secret"}
    ada = make_subscriber(email="ada@example.org")
    auth = "Basic " + base64.b64encode(b"esp:secret").decode()
    response = client.post(
        "/anymail/postmark/tracking/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert 200 <= response.status_code < 500
    ada.refresh_from_db()
    assert ada.status == Subscriber.Status.ACTIVE
    assert not WebhookEvent.objects.exists()
