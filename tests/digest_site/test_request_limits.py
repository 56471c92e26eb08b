"""Request bodies past MAX_REQUEST_BODY_BYTES are refused before anything reads them."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from subscriptions.models import Subscriber

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def test_a_30_mb_upload_to_the_sign_up_form_is_refused(client, default_topics):
    form = {"email": "ada@example.org", "topics": ["face-analysis"], "frequency": "daily"}
    assert client.post("/subscribe/", {**form, "email": "bob@example.org"}).status_code == 302
    upload = SimpleUploadedFile("big.bin", b"\0" * (30 * MB))
    response = client.post("/subscribe/", {**form, "file": upload})
    assert response.status_code == 413
    assert not Subscriber.objects.filter(email="ada@example.org").exists()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/subscribe/", "application/x-www-form-urlencoded"),
        ("/anymail/postmark/tracking/", "application/json"),
        ("/admin/login/", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_over_the_limit_is_a_413_wherever_it_goes(client, settings, path, content_type):
    body = "x" * (settings.MAX_REQUEST_BODY_BYTES + 1)
    assert client.post(path, body, content_type=content_type).status_code == 413


def test_a_body_at_the_limit_reaches_the_page(client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 2048
    padding = "x" * (2048 - len("email=ada%40example.org&padding="))
    response = client.post(
        "/subscribe/",
        f"email=ada%40example.org&padding={padding}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code != 413


def test_the_limits_are_the_ones_django_applies_too(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.MAX_REQUEST_BODY_BYTES == MB
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE == MB
