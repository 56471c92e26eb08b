"""Signed tokens in the links of emails: confirm (expires) and manage (preferences, unsubscribe).

A token carries the subscriber id and their ``manage_key``; deleting the subscriber or
giving them a new key makes every earlier link invalid.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing

from subscriptions.models import Subscriber

_CONFIRM_SALT = "subscriptions.confirm"
_MANAGE_SALT = "subscriptions.manage"


class TokenExpired(Exception):
    """The link was real but is too old."""


class TokenInvalid(Exception):
    """The link was altered, cut short, or belongs to a subscriber that no longer exists."""


def confirmation_token(subscriber: Subscriber) -> str:
    """The token of the double opt-in link; valid for ``CONFIRMATION_MAX_AGE_DAYS``."""
    return signing.dumps([subscriber.pk, subscriber.manage_key], salt=_CONFIRM_SALT)


def manage_token(subscriber: Subscriber) -> str:
    """The token of the preferences and unsubscribe links in every email (no expiry)."""
    return signing.dumps([subscriber.pk, subscriber.manage_key], salt=_MANAGE_SALT)


def subscriber_from_confirmation(token: str) -> Subscriber:
    """The subscriber a confirmation link is for; ``TokenExpired`` or ``TokenInvalid``."""
    max_age = timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS)
    try:
        payload = signing.loads(token, salt=_CONFIRM_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        raise TokenInvalid from None
    return _subscriber(payload)


def subscriber_from_manage_token(token: str) -> Subscriber:
    """The subscriber a preferences/unsubscribe link is for; ``TokenInvalid`` otherwise."""
    try:
        payload = signing.loads(token, salt=_MANAGE_SALT)
    except signing.BadSignature:
        raise TokenInvalid from None
    return _subscriber(payload)


def _subscriber(payload: object) -> Subscriber:
    if not (isinstance(payload, list) and len(payload) == 2):
        raise TokenInvalid
    pk, key = payload
    subscriber = Subscriber.objects.filter(pk=pk, manage_key=key).first()
    if subscriber is None:
        raise TokenInvalid
    return subscriber
