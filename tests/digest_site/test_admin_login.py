"""The admin login: throttled and locked out per username and address, strong passwords only."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def editor(settings):
    # A fast hasher: these tests log in dozens of times; what they test is the counting.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return get_user_model().objects.create_superuser("editor", "editor@example.org", PASSWORD)


def log_in(password, *, username="editor", address="203.0.113.7", **headers):
    """The status of one login through the admin's form, from a fresh browser at ``address``."""
    client = Client(REMOTE_ADDR=address, **headers)
    response = client.post(LOGIN, {"username": username, "password": password})
    return response.status_code, "_auth_user_id" in client.session


def test_five_wrong_passwords_lock_the_username_out_from_that_address(editor):
    for _ in range(4):
        assert log_in("wrong guess") == (200, False)  # the form again, with its error
    assert log_in("wrong guess") == (429, False)
    # Locked out: even the right password does not log in.
    assert log_in(PASSWORD) == (429, False)
    # The count is a database row, so every web process sees it.
    assert AccessAttempt.objects.get().failures_since_start >= 5


def test_the_lockout_holds_one_username_from_one_address_only(editor):
    for _ in range(5):
        log_in("wrong guess")
    assert log_in(PASSWORD, address="198.51.100.9") == (302, True)
    get_user_model().objects.create_superuser("other", "other@example.org", PASSWORD)
    assert log_in(PASSWORD, username="other") == (302, True)


def test_the_lockout_ends_after_its_cool_off(editor):
    for _ in range(5):
        log_in("wrong guess")
    assert log_in(PASSWORD)[0] == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert log_in(PASSWORD) == (302, True)


def test_behind_a_proxy_the_client_address_counts_not_the_proxys(editor, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(5):
        log_in("wrong guess", address="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert log_in(PASSWORD, address="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")[0] == 429
    assert log_in(PASSWORD, address="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9") == (
        302,
        True,
    )


@pytest.mark.parametrize(
    "password", ["password", "short-pw1", "12345678901234", "editor@example.org1"]
)
def test_weak_passwords_are_refused(editor, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=editor)


def test_a_long_uncommon_password_is_accepted(editor):
    validate_password("violet-harbour-17-quietly", user=editor)
