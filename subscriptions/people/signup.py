"""Signing up with double opt-in, and the confirmation emails it owes.

Subscribing saves the subscriber and records that a confirmation email is owed. The entry
point that took the sign-up queues the task that sends it (``tasks.queue_confirmation``),
and a periodic sweep sends whatever a lost task did not. Whatever state an address is in,
the person signing up sees the same answer.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from subscriptions.addresses import mailbox_of, normalise_email
from subscriptions.emails import already_subscribed_email, confirmation_email, link
from subscriptions.matching.interests import Interests
from subscriptions.models import Subscriber
from subscriptions.people.tokens import confirmation_token, preferences_token

logger = logging.getLogger(__name__)

_CONFIRMED = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)


class SignupOutcome(enum.Enum):
    """What a sign-up did. Only for logs and tests: the person sees the same page for all."""

    CREATED = "created"
    PENDING_UPDATED = "pending subscriber's interests updated"
    ALREADY_SUBSCRIBED = "already subscribed"
    RESUBSCRIBING = "resubscribing, awaiting confirmation"


@dataclass(frozen=True)
class Signup:
    """What a sign-up did, and whether the subscriber is now owed a confirmation email."""

    outcome: SignupOutcome
    subscriber_id: int
    confirmation_owed: bool


def subscribe(*, email: str, interests: Interests, frequency: str) -> Signup:
    """Record a sign-up and owe the address one confirmation email (within the limits of
    ``request_confirmation``).

    A new or not-yet-confirmed address gets these interests; a confirmed subscriber's
    interests are left alone (a stranger must not change them) and they are told instead
    how to manage their subscription.
    """
    email = normalise_email(email)
    try:
        return _subscribe(email, interests, frequency)
    except IntegrityError:
        # Someone signed the same address up at the same moment; the row exists now.
        return _subscribe(email, interests, frequency)


@transaction.atomic
def _subscribe(email: str, interests: Interests, frequency: str) -> Signup:
    subscriber = Subscriber.objects.select_for_update().with_email(email).first()
    if subscriber is None:
        subscriber = Subscriber.objects.create(
            email=email, mailbox=mailbox_of(email), frequency=frequency
        )
        outcome = SignupOutcome.CREATED
    elif subscriber.status in _CONFIRMED:
        outcome = SignupOutcome.ALREADY_SUBSCRIBED
    elif subscriber.status == Subscriber.Status.PENDING:
        outcome = SignupOutcome.PENDING_UPDATED
    else:
        outcome = SignupOutcome.RESUBSCRIBING
    if outcome is not SignupOutcome.ALREADY_SUBSCRIBED:
        set_interests(subscriber, interests=interests, frequency=frequency)
    owed = request_confirmation(subscriber)
    logger.info("sign-up for subscriber %s: %s", subscriber.pk, outcome.value)
    return Signup(outcome=outcome, subscriber_id=subscriber.pk, confirmation_owed=owed)


def set_interests(subscriber: Subscriber, *, interests: Interests, frequency: str) -> None:
    """Replace a subscriber's interests and frequency."""
    subscriber.keywords = list(interests.keywords)
    subscriber.authors = list(interests.authors)
    subscriber.excluded_keywords = list(interests.excluded)
    subscriber.frequency = frequency
    subscriber.save(update_fields=["keywords", "authors", "excluded_keywords", "frequency"])
    subscriber.topics.set(interests.topic_ids)


def request_confirmation(subscriber: Subscriber) -> bool:
    """Owe the subscriber a confirmation email (or, confirmed, an "already subscribed" one);
    True if it is now owed (the caller queues the task that sends it).

    Not owed if any address of the same mailbox (``+tag`` and Gmail's dots aside) was owed
    one within ``CONFIRMATION_EMAIL_INTERVAL_SECONDS``, nor, to a confirmed subscriber,
    within ``ALREADY_SUBSCRIBED_EMAIL_INTERVAL_SECONDS``: typing someone's address into the
    form is no way to fill their inbox. The debt is recorded in the row: if the task is
    never queued or lost (broker down), ``send_owed_confirmations`` pays it later.
    """
    now = timezone.now()
    if _asked_recently(subscriber, now):
        return False
    subscriber.confirmation_requested_at = now
    subscriber.save(update_fields=["confirmation_requested_at"])
    return True


def _asked_recently(subscriber: Subscriber, now: datetime) -> bool:
    hour = now - timedelta(seconds=settings.CONFIRMATION_EMAIL_INTERVAL_SECONDS)
    last = subscriber.confirmation_requested_at
    if subscriber.status in _CONFIRMED:
        since = now - timedelta(seconds=settings.ALREADY_SUBSCRIBED_EMAIL_INTERVAL_SECONDS)
        if last is not None and last > since:
            return True
    if last is not None and last > hour:
        return True
    # Variants of one mailbox are rows of their own; two signing up at the same instant may
    # both be owed one (the per-IP limit still holds).
    mailbox = subscriber.mailbox or mailbox_of(subscriber.email)
    return Subscriber.objects.filter(mailbox=mailbox, confirmation_requested_at__gt=hour).exists()


def resend_confirmation(*, email: str) -> int | None:
    """Owe a new confirmation link to the pending subscriber with this address, if any;
    the subscriber's id when one is now owed, else None (unknown, confirmed, or asked for
    within the interval: the person asking is told the same either way)."""
    subscriber = Subscriber.objects.with_email(normalise_email(email)).first()
    if subscriber is None or subscriber.status != Subscriber.Status.PENDING:
        return None
    return subscriber.pk if request_confirmation(subscriber) else None


def _owed() -> Q:
    """Requested and not sent since, and not taken by a worker that may still send it."""
    stale = timezone.now() - timedelta(minutes=settings.DIGESTS["STALE_CLAIM_MINUTES"])
    return (
        Q(confirmation_requested_at__isnull=False)
        & (
            Q(confirmation_sent_at__isnull=True)
            | Q(confirmation_sent_at__lt=F("confirmation_requested_at"))
        )
        & (
            Q(confirmation_claimed_at__isnull=True)
            | Q(confirmation_claimed_at__lt=F("confirmation_requested_at"))
            | Q(confirmation_claimed_at__lt=stale)
        )
    )


def send_owed_confirmation(*, subscriber_id: int) -> bool:
    """Send the confirmation email the subscriber is owed, once; False if nothing was owed.

    The row is claimed with a conditional update before sending, so two workers (or a task
    and the sweep) never both send it, and recorded as sent after. A failed send gives the
    claim back and re-raises; a worker killed in between leaves a claim that goes stale
    after ``STALE_CLAIM_MINUTES``, and the sweep sends it then (a second copy at worst,
    never a sign-up without its confirmation).
    """
    now = timezone.now()
    claimed = Subscriber.objects.filter(_owed(), pk=subscriber_id).update(
        confirmation_claimed_at=now
    )
    if not claimed:
        return False
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    if subscriber.status in _CONFIRMED:
        preferences = link("subscriptions:preferences", preferences_token(subscriber))
        email = already_subscribed_email(to=subscriber.email, preferences_url=preferences)
    else:
        confirm_url = link("subscriptions:confirm", confirmation_token(subscriber))
        email = confirmation_email(to=subscriber.email, confirm_url=confirm_url)
    mine = Subscriber.objects.filter(pk=subscriber_id, confirmation_claimed_at=now)
    try:
        email.send()
    except Exception:
        mine.update(confirmation_claimed_at=None)
        raise
    mine.update(confirmation_sent_at=now)
    return True


def owed_confirmation_ids() -> list[int]:
    """Subscribers owed a confirmation requested recently enough to still be worth sending."""
    oldest = timezone.now() - timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS)
    return list(
        Subscriber.objects.filter(_owed(), confirmation_requested_at__gte=oldest)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )


def confirm(subscriber: Subscriber) -> bool:
    """Make the subscription active; False if it already was (confirming twice is harmless)."""
    if subscriber.status in _CONFIRMED:
        return False
    subscriber.status = Subscriber.Status.ACTIVE
    subscriber.confirmed_at = timezone.now()
    subscriber.unsubscribed_at = None
    subscriber.soft_bounces = 0  # the address works again: they clicked the link in it
    subscriber.save(update_fields=["status", "confirmed_at", "unsubscribed_at", "soft_bounces"])
    return True
