"""Issue 17, item 3: readers choose their hour, time zone and (weekly) day in the forms."""

from __future__ import annotations

import pytest

from subscriptions.models import Subscriber
from subscriptions.people.tokens import confirmation_token, preferences_token
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def sign_up(client, django_capture_on_commit_callbacks):
    def post(**fields):
        data = {"email": "ada@example.org", "topics": ["face-analysis"], "frequency": "daily"}
        data.update(fields)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/subscribe/", data)

    return post


def test_the_sign_up_page_offers_an_hour_and_a_time_zone_that_work_without_javascript(client):
    html = client.get("/subscribe/").content.decode()
    assert (
        '<select name="send_hour"' in html and '<option value="7" selected>07:00</option>' in html
    )
    assert '<select name="time_zone"' in html and "data-browser-time-zone" in html
    assert '<option value="UTC" selected>UTC</option>' in html
    assert '<option value="America/New_York">America/New York</option>' in html
    assert '<select name="send_weekday"' in html and '<option value="1" selected>Monday' in html
    assert "send-time.js" in html


def test_a_sign_up_keeps_the_chosen_send_time_once_confirmed(client, sign_up):
    response = sign_up(frequency="weekly", send_hour="18", time_zone="Asia/Tokyo", send_weekday="5")
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    client.get(f"/confirm/{confirmation_token(subscriber)}/")
    subscriber.refresh_from_db()
    assert (subscriber.send_hour, subscriber.time_zone, subscriber.send_weekday) == (
        18,
        "Asia/Tokyo",
        5,
    )


def test_a_sign_up_without_a_send_time_gets_seven_utc_monday(sign_up):
    sign_up()
    subscriber = Subscriber.objects.get()
    assert (subscriber.send_hour, subscriber.time_zone, subscriber.send_weekday) == (7, "UTC", 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_zone", "Mars/Olympus_Mons"), ("send_hour", "24"), ("send_weekday", "8")],
)
def test_a_bad_send_time_is_refused_and_nothing_is_saved(sign_up, field, value):
    response = sign_up(**{field: value})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Subscriber.objects.exists()


def test_preferences_show_and_change_the_send_time(client):
    subscriber = make_subscriber(keywords=["LoRA"], time_zone="Europe/Paris", send_hour=8)
    token = preferences_token(subscriber)
    html = client.get(f"/preferences/{token}/").content.decode()
    assert '<option value="Europe/Paris" selected>' in html
    assert '<option value="8" selected>08:00</option>' in html
    assert "data-browser-time-zone" not in html  # their own choice is never replaced
    form = {"action": "save", "keywords": "LoRA", "frequency": "daily"}
    client.post(f"/preferences/{token}/", {**form, "send_hour": "21", "time_zone": "Asia/Kolkata"})
    subscriber.refresh_from_db()
    assert (subscriber.send_hour, subscriber.time_zone) == (21, "Asia/Kolkata")
    client.post(f"/preferences/{token}/", form)  # a page without the fields loses nothing
    subscriber.refresh_from_db()
    assert (subscriber.send_hour, subscriber.time_zone) == (21, "Asia/Kolkata")
