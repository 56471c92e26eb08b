"""Signed tokens in the links of emails: confirm (expires) and manage (preferences, unsubscribe).

A token carries the subscriber id and their ``manage_key``; deleting the subscriber or
giving them a new key makes every earlier link invalid.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing

from .models import Subscriber

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


_FEEDBACK_SALT = "subscriptions.feedback"
_VIEW_SALT = "subscriptions.view-digest"


def feedback_token(subscriber: Subscriber, *, paper_id: int, signal: int) -> str:
    """The token of a "more like this" (+1) or "less like this" (-1) link."""
    return signing.dumps(
        [subscriber.pk, subscriber.manage_key, paper_id, signal], salt=_FEEDBACK_SALT
    )


def read_feedback_token(token: str) -> tuple[Subscriber, int, int]:
    """(subscriber, paper id, signal) of a feedback link; ``TokenInvalid`` otherwise."""
    try:
        payload = signing.loads(token, salt=_FEEDBACK_SALT)
    except signing.BadSignature:
        raise TokenInvalid from None
    if not (isinstance(payload, list) and len(payload) == 4 and payload[3] in (1, -1)):
        raise TokenInvalid
    subscriber_id, key, paper_id, signal = payload
    return _subscriber([subscriber_id, key]), int(paper_id), int(signal)


def digest_view_token(subscriber: Subscriber, *, digest_id: int) -> str:
    """The token of a digest's "view in browser" link."""
    return signing.dumps([subscriber.pk, subscriber.manage_key, digest_id], salt=_VIEW_SALT)


def read_digest_view_token(token: str) -> tuple[Subscriber, int]:
    """(subscriber, digest id) of a "view in browser" link; ``TokenInvalid`` otherwise."""
    try:
        payload = signing.loads(token, salt=_VIEW_SALT)
    except signing.BadSignature:
        raise TokenInvalid from None
    if not (isinstance(payload, list) and len(payload) == 3):
        raise TokenInvalid
    return _subscriber(payload[:2]), int(payload[2])
