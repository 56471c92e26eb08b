"""What a subscriber does from the links in their emails: pause, resume, leave, delete, sign
out their links, and get a new preferences link."""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings
from django.core.cache import cache

from subscriptions.emails import link, preferences_link_email
from subscriptions.models import Feedback, Subscriber
from subscriptions.people.privacy import delete_personal_data
from subscriptions.people.ratelimit import allow
from subscriptions.people.signup import normalise_email
from subscriptions.people.suppression import suppress
from subscriptions.people.tokens import preferences_token, rotate_key

logger = logging.getLogger(__name__)

# Who may be emailed a preferences link: those who get the digest.
_RECEIVING = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
# Who may ask for a preferences link: also a reader who unsubscribed (to come back, or to
# download or delete their data), never an address that bounced or complained.
_MAY_ASK = (*_RECEIVING, Subscriber.Status.UNSUBSCRIBED)


def pause(subscriber: Subscriber) -> None:
    """Stop sending digests until resumed; only an active subscription can be paused."""
    if subscriber.status == Subscriber.Status.ACTIVE:
        subscriber.status = Subscriber.Status.PAUSED
        subscriber.save(update_fields=["status"])


def resume(subscriber: Subscriber) -> None:
    """Send digests again after a pause."""
    if subscriber.status == Subscriber.Status.PAUSED:
        subscriber.status = Subscriber.Status.ACTIVE
        subscriber.save(update_fields=["status"])


def unsubscribe(subscriber: Subscriber) -> None:
    """Send nothing more, and revoke every link but unsubscribe ones (see ``suppress``).
    Repeating it changes nothing; signing up again needs confirmation."""
    suppress(Subscriber.objects.filter(pk=subscriber.pk), status=Subscriber.Status.UNSUBSCRIBED)


def delete_subscriber(subscriber: Subscriber) -> None:
    """Delete the subscriber and every row that names them (see ``privacy``)."""
    delete_personal_data(subscriber=subscriber)


def sign_out_links(subscriber: Subscriber) -> None:
    """Revoke every link made for the subscriber so far, except unsubscribe ones (which can
    only stop mail). The caller queues ``send_preferences_link`` so they can get back in."""
    rotate_key(Subscriber.objects.filter(pk=subscriber.pk))
    subscriber.refresh_from_db(fields=["manage_key"])


def set_tracking(subscriber: Subscriber, *, on: bool) -> None:
    """Count the reader's opens and clicks (``on``) or not: with it off, their digests link
    straight to each paper and ask the ESP to track nothing."""
    subscriber.tracking = on
    subscriber.save(update_fields=["tracking"])


def record_feedback(subscriber: Subscriber, *, paper_id: int, signal: int) -> None:
    """Remember "more like this" (+1) or "less like this" (-1); the latest word counts."""
    Feedback.objects.update_or_create(
        subscriber=subscriber, paper_id=paper_id, defaults={"signal": signal}
    )


def send_preferences_link(*, subscriber_id: int, request_id: str) -> bool:
    """Email a subscriber who gets the digest (active or paused) a fresh preferences link,
    once per ``request_id`` (a task run twice sends once); False if nothing was sent."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id, status__in=_RECEIVING).first()
    return subscriber is not None and _send_once(subscriber, request_id)


def send_requested_preferences_link(*, email: str, request_id: str) -> bool:
    """Someone typed ``email`` into "email me a new link": send that address a preferences
    link if it gets the digest or unsubscribed itself, at most
    ``PREFERENCES_LINK_EMAILS_PER_HOUR`` an hour; False if nothing was sent. The person
    asking is told the same either way."""
    subscriber = (
        Subscriber.objects.with_email(normalise_email(email)).filter(status__in=_MAY_ASK).first()
    )
    if subscriber is None:
        return False
    if not allow(
        scope="preferences-link",
        key=subscriber.email.lower(),
        limit=settings.PREFERENCES_LINK_EMAILS_PER_HOUR,
        window_seconds=3600,
    ):
        logger.info("preferences link for subscriber %s: limit reached", subscriber.pk)
        return False
    return _send_once(subscriber, request_id)


def _send_once(subscriber: Subscriber, request_id: str) -> bool:
    claim = f"preferences-link:{request_id}"
    try:
        first = cache.add(claim, 1, timeout=24 * 3600)
    except Exception:
        logger.exception("preferences link: cache unavailable, sending")
        first = True
    if not first:
        return False
    url = link("subscriptions:preferences", preferences_token(subscriber))
    try:
        preferences_link_email(to=subscriber.email, preferences_url=url).send()
    except Exception:
        with contextlib.suppress(Exception):
            cache.delete(claim)  # so that a retry sends it
        raise
    return True
