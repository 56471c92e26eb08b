"""Only our ESP's tracking webhook is mounted: another ESP's URL is a 404, not a 500."""

import base64

import pytest
from django.core.checks import run_checks
from django.urls import reverse

from digest_site.webhooks import tracking_webhook_urls
from tests.digest_site.test_settings import read_settings

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/anymail/mailgun/tracking/",
        "/anymail/amazon_ses/tracking/",
        "/anymail/sendgrid/tracking/",
        "/anymail/mandrill/",
        "/anymail/postmark/inbound/",
        "/anymail/mailgun/inbound_mime/",
    ],
)
def test_an_unauthenticated_post_to_another_esps_webhook_is_a_404(client, path):
    response = client.post(path, "{}", content_type="application/json")
    assert response.status_code == 404


def test_the_postmark_tracking_webhook_is_mounted_and_refuses_strangers(client):
    assert reverse("anymail:postmark_tracking_webhook") == "/anymail/postmark/tracking/"
    wrong = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"who:knows").decode()}
    response = client.post("/anymail/postmark/tracking/", "{}", "application/json", **wrong)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("variables", "esp"),
    [
        ({}, "postmark"),
        ({"EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend"}, "mailgun"),
        ({"EMAIL_BACKEND": "anymail.backends.amazon_ses.EmailBackend"}, "amazon_ses"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}, "postmark"),
        (
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "WEBHOOK_ESP": "brevo",
            },
            "brevo",
        ),
    ],
)
def test_the_mounted_webhook_follows_the_esp_we_send_through(tmp_path, variables, esp):
    assert read_settings(tmp_path, **variables)["WEBHOOK_ESP"] == esp


@pytest.mark.parametrize(
    ("esp", "routes"),
    [
        ("postmark", ["postmark/tracking/"]),
        ("amazon_ses", ["amazon_ses/tracking/"]),
        ("mandrill", ["mandrill/", "mandrill/tracking/"]),
        ("scaleway", []),
    ],
)
def test_one_esps_tracking_urls_are_chosen(esp, routes):
    assert [str(pattern.pattern) for pattern in tracking_webhook_urls(esp)] == routes


def test_an_esp_without_a_webhook_is_reported(settings):
    settings.WEBHOOK_ESP = "postmrk"
    [warning] = [w for w in run_checks(tags=["settings"]) if w.id == "digest_site.W001"]
    assert "WEBHOOK_ESP='postmrk'" in warning.msg
