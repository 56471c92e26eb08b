"""Signed tokens in the links of emails: one purpose each, so a link does one thing.

A token is ``<subscriber id>:<when it was made>:<signature>``, signed by Django's
``TimestampSigner`` under a salt that names its purpose, so a feedback link cannot open the
preferences page. Except for unsubscribing, what is signed also holds the subscriber's
``manage_key`` (``<id>:<key>:<when>``), which the link leaves out and verifying puts back
from the database: giving them a new key (``rotate_key``, done on "sign out all my links"
and whenever mail to them stops) makes every earlier link for every other purpose invalid.

An unsubscribe link holds no key, and never expires: any digest a reader still has, however
old, stops the mail in one click (RFC 8058; mailbox providers insist), and all a leaked one
can do is stop mail the reader can start again. A link made before purposes existed (one
"manage" token for everything) is taken for unsubscribing only, for a transition period.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.db.models import QuerySet

from subscriptions.models import Subscriber

# Confirming never undoes what someone other than the reader decided: a bounce, a spam
# complaint, an editor's suppression. Only an editor lifts those.
_NOT_CONFIRMABLE = (
    Subscriber.Status.BOUNCED,
    Subscriber.Status.COMPLAINED,
    Subscriber.Status.SUPPRESSED,
)
_LEGACY_SALT = "subscriptions.manage"


class Purpose(enum.Enum):
    """What a link may do; each is signed under a salt of its own."""

    CONFIRM = "confirm"  # the double opt-in link; CONFIRMATION_MAX_AGE_DAYS
    # Preferences, pause, sign out, delete: PREFERENCES_LINK_MAX_AGE_DAYS.
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"  # the page and List-Unsubscribe (one click); no key, no expiry
    FEEDBACK = "feedback"  # "more/less like this"; no expiry
    VIEW = "view"  # a digest in the browser; no expiry

    @property
    def keyed(self) -> bool:
        return self is not Purpose.UNSUBSCRIBE

    def max_age(self) -> timedelta | None:
        if self is Purpose.CONFIRM:
            return timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS)
        if self is Purpose.PREFERENCES:
            return timedelta(days=settings.PREFERENCES_LINK_MAX_AGE_DAYS)
        return None


class TokenExpired(Exception):
    """The link was real but is too old."""


class TokenInvalid(Exception):
    """The link was altered, cut short, made for another purpose, revoked by a new key, or
    belongs to a subscriber that no longer exists."""


@dataclass(frozen=True, slots=True)
class Verified:
    """The subscriber a link is for, and when the link was made (Unix seconds)."""

    subscriber: Subscriber
    issued_at: int


@dataclass(frozen=True, slots=True)
class DigestTokens:
    """The tokens of one digest's links, one per purpose."""

    unsubscribe: str
    preferences: str
    feedback: str
    view: str


def new_key() -> str:
    """A fresh random ``manage_key``."""
    return secrets.token_urlsafe(16)


def rotate_key(subscribers: QuerySet[Subscriber]) -> int:
    """Give ``subscribers`` a new key: every link made for them before, except unsubscribe
    links, stops working. Return how many rows changed.

    One fresh key serves all the rows of one call: a token also signs its subscriber's id,
    so sharing a key lets no one's link work for another."""
    return subscribers.update(manage_key=new_key())


@lru_cache(maxsize=16)
def _signer(purpose: Purpose, secret: str) -> signing.TimestampSigner:
    # One per purpose (and SECRET_KEY) a process: signing uses only the current key. A
    # token is verified with a fresh signer, which also tries SECRET_KEY_FALLBACKS.
    return signing.TimestampSigner(key=secret, salt=f"subscriptions.{purpose.value}")


def _signed(pk: object, key: str, purpose: Purpose, stamp: str) -> str:
    """What is signed: the id, the key unless the purpose holds none, and the time."""
    return f"{pk}:{key}:{stamp}" if purpose.keyed else f"{pk}:{stamp}"


def make_token(subscriber: Subscriber, purpose: Purpose, *, issued_at: int | None = None) -> str:
    """A token for ``purpose``, dated ``issued_at`` (Unix seconds), by default now.

    A page opened by a long-lived link dates the preferences link it shows as that link was
    dated, so the page never hands out a link that outlives the one in the email."""
    stamp = signing.b62_encode(int(time.time()) if issued_at is None else issued_at)
    return _token(subscriber, purpose, stamp)


def _token(subscriber: Subscriber, purpose: Purpose, stamp: str) -> str:
    signer = _signer(purpose, settings.SECRET_KEY)
    # What TimestampSigner.sign signs, at a given time, with the key left out of the link.
    signature = signer.signature(_signed(subscriber.pk, subscriber.manage_key, purpose, stamp))
    return f"{subscriber.pk}:{stamp}:{signature}"


def digest_tokens(subscriber: Subscriber, *, issued_at: int | None = None) -> DigestTokens:
    """The four tokens of a digest's links, dated ``issued_at`` (by default now): four
    HMACs, no query."""
    stamp = signing.b62_encode(int(time.time()) if issued_at is None else issued_at)
    return DigestTokens(
        unsubscribe=_token(subscriber, Purpose.UNSUBSCRIBE, stamp),
        preferences=_token(subscriber, Purpose.PREFERENCES, stamp),
        feedback=_token(subscriber, Purpose.FEEDBACK, stamp),
        view=_token(subscriber, Purpose.VIEW, stamp),
    )


def confirmation_token(subscriber: Subscriber) -> str:
    """The token of the double opt-in link; valid for ``CONFIRMATION_MAX_AGE_DAYS`` and
    until mail to the subscriber stops (which gives them a new key)."""
    return make_token(subscriber, Purpose.CONFIRM)


def preferences_token(subscriber: Subscriber, *, issued_at: int | None = None) -> str:
    """The token of the preferences (and delete) links; valid for
    ``PREFERENCES_LINK_MAX_AGE_DAYS`` from ``issued_at`` (by default now)."""
    return make_token(subscriber, Purpose.PREFERENCES, issued_at=issued_at)


def feedback_token(subscriber: Subscriber) -> str:
    """The token of "more/less like this" and "save" links (no expiry), dated now."""
    return make_token(subscriber, Purpose.FEEDBACK)


def unsubscribe_token(subscriber: Subscriber) -> str:
    """The token of the unsubscribe and one-click links (no expiry)."""
    return make_token(subscriber, Purpose.UNSUBSCRIBE)


def verify(token: str, purpose: Purpose) -> Verified:
    """The subscriber a link for ``purpose`` is for; ``TokenExpired`` or ``TokenInvalid``.

    One query, whether or not the token is good."""
    parts = token.split(":")
    pk = _id_of(parts[0])
    if purpose is Purpose.UNSUBSCRIBE and pk is None:
        return _verify_legacy_unsubscribe(token)
    if pk is None or len(parts) != 3:
        raise TokenInvalid
    _, stamp, signature = parts
    subscriber = Subscriber.objects.filter(pk=pk).first()
    # A missing subscriber costs the same work as a wrong key.
    key = subscriber.manage_key if subscriber is not None else ""
    signer = signing.TimestampSigner(salt=f"subscriptions.{purpose.value}")
    try:
        signer.unsign(f"{_signed(pk, key, purpose, stamp)}:{signature}", max_age=purpose.max_age())
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        raise TokenInvalid from None
    if subscriber is None:
        raise TokenInvalid
    return Verified(subscriber=subscriber, issued_at=signing.b62_decode(stamp))


def _id_of(text: str) -> int | None:
    # ASCII digits only ("²" is a digit to str.isdigit), and no more than a bigint holds.
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def subscriber_from_confirmation(token: str) -> Subscriber:
    """The subscriber a confirmation link is for, if it may still confirm them;
    ``TokenExpired`` or ``TokenInvalid``."""
    subscriber = verify(token, Purpose.CONFIRM).subscriber
    if subscriber.status in _NOT_CONFIRMABLE:
        raise TokenInvalid
    return subscriber


def _verify_legacy_unsubscribe(token: str) -> Verified:
    """A "manage" token of before purposes: it still unsubscribes, for
    ``LEGACY_UNSUBSCRIBE_LINK_MAX_AGE_DAYS`` after it was made, and does nothing else."""
    max_age = timedelta(days=settings.LEGACY_UNSUBSCRIBE_LINK_MAX_AGE_DAYS)
    try:
        payload = signing.loads(token, salt=_LEGACY_SALT, max_age=max_age)
    except signing.BadSignature:  # SignatureExpired included: no new link is owed for it
        raise TokenInvalid from None
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise TokenInvalid
    # The key is not compared: an unsubscribe link works until it is too old, whatever
    # happened since (a repeated one-click answers the same).
    subscriber = Subscriber.objects.filter(pk=payload[0]).first()
    if subscriber is None:
        raise TokenInvalid
    issued_at = signing.b62_decode(token.split(":")[1])
    return Verified(subscriber=subscriber, issued_at=issued_at)


# Click links: one per paper of every digest, so each is a short MAC of its own: keyed
# BLAKE2b (a MAC by design, one C call, where TimestampSigner would derive its key anew for
# each), 80 bits in hex. The key is derived once per SECRET_KEY, under a salt of its own.
_CLICK_SALT = b"subscriptions.click"
_CLICK_SIGNATURE_BYTES = 10


@lru_cache(maxsize=8)
def _click_key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    return hashlib.blake2b(raw, key=_CLICK_SALT, digest_size=32).digest()


def _click_signature(key: bytes, message: str) -> str:
    mac = hashlib.blake2b(message.encode(), key=key, digest_size=_CLICK_SIGNATURE_BYTES)
    return mac.hexdigest()


def click_signer(*, digest_id: int) -> Callable[[int], str]:
    """``paper id -> click token`` for the papers of one digest, the key looked up once: a
    token is ``<digest>-<paper>-<signature>``. It names the paper, not where to go, so it
    cannot send anyone elsewhere (no open redirect)."""
    key, prefix = _click_key(settings.SECRET_KEY), f"{digest_id}-"

    def sign(paper_id: int) -> str:
        message = f"{prefix}{paper_id}"
        return f"{message}-{_click_signature(key, message)}"

    return sign


def click_token(*, digest_id: int, paper_id: int) -> str:
    """The click token of one paper of one digest (see ``click_signer``)."""
    return click_signer(digest_id=digest_id)(paper_id)


def verify_click_token(token: str) -> tuple[int, int] | None:
    """(digest id, paper id) of a click token signed with ``SECRET_KEY`` or one of its
    fallbacks; None for anything else."""
    parts = token.split("-", 2)  # the signature's base64 may hold "-" too
    if len(parts) != 3:
        return None
    digest_id, paper_id = _id_of(parts[0]), _id_of(parts[1])
    if digest_id is None or paper_id is None:
        return None
    message = f"{parts[0]}-{parts[1]}"
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if hmac.compare_digest(_click_signature(_click_key(secret), message), parts[2]):
            return digest_id, paper_id
    return None
