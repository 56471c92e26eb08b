"""Signing up with double opt-in, and the confirmation emails it owes.

Subscribing records the sign-up in the subscriber's row and, when one is due, that a
confirmation email is owed. The entry point that took the sign-up queues the task that
answers it (``tasks.queue_confirmation``) whatever the address's state, so every sign-up
does the same work in the request: one row read, one row written, one task queued. The
task applies the interests asked for and sends what is owed; a periodic sweep does what a
lost task did not. Whatever state an address is in, the person signing up sees the same
answer, and an address whose mail stopped for good (``suppression.FINAL``) is sent nothing.
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

from papers.embeddings import store_phrases
from papers.models import Paper
from subscriptions.addresses import mailbox_of, normalise_email
from subscriptions.emails import already_subscribed_email, confirmation_email, link
from subscriptions.matching.interests import Interests
from subscriptions.models import Feedback, Subscriber
from subscriptions.people.suppression import is_final, remembered_final_status
from subscriptions.people.tokens import confirmation_token, preferences_token
from subscriptions.timezones import SendTime

logger = logging.getLogger(__name__)

_CONFIRMED = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)


class SignupOutcome(enum.Enum):
    """What a sign-up did. Only for logs and tests: the person sees the same page for all."""

    CREATED = "created"
    PENDING_UPDATED = "pending subscriber's interests updated"
    ALREADY_SUBSCRIBED = "already subscribed"
    RESUBSCRIBING = "resubscribing, awaiting confirmation"
    SUPPRESSED = "suppressed for good, nothing sent"


@dataclass(frozen=True)
class Signup:
    """What a sign-up did, and whether the subscriber is now owed a confirmation email."""

    outcome: SignupOutcome
    subscriber_id: int
    confirmation_owed: bool


def subscribe(
    *, email: str, interests: Interests, frequency: str, send_time: SendTime | None = None
) -> Signup:
    """Record a sign-up and owe the address one confirmation email (within the limits of
    ``request_confirmation``).

    A new or not-yet-confirmed address gets these interests (applied by the task, see
    ``settle_signup``); a confirmed subscriber's interests are left alone (a stranger must
    not change them) and they are told instead how to manage their subscription. An address
    whose mail stopped for good (bounced, complained, suppressed by an editor) is owed
    nothing and keeps its interests. The send time (default: 07:00 UTC) goes with the
    interests. The caller queues ``settle_signup`` for every outcome.
    """
    email = normalise_email(email)
    send_time = send_time or SendTime()
    try:
        return _subscribe(email, interests, frequency, send_time)
    except IntegrityError:
        # Someone signed the same address up at the same moment; the row exists now.
        return _subscribe(email, interests, frequency, send_time)


@transaction.atomic
def _subscribe(email: str, interests: Interests, frequency: str, send_time: SendTime) -> Signup:
    subscriber = Subscriber.objects.select_for_update().with_email(email).first()
    created = subscriber is None
    # Asked on every path (the same work whatever the address): mail to it stopped for
    # good before its subscriber deleted their data.
    stopped = remembered_final_status(email)
    if subscriber is None and stopped:
        # The suppression is a row again, which an editor can lift as any other.
        subscriber = Subscriber(
            email=email, mailbox=mailbox_of(email), frequency=frequency, status=stopped
        )
        outcome = SignupOutcome.SUPPRESSED
    elif subscriber is None:
        subscriber = Subscriber(email=email, mailbox=mailbox_of(email), frequency=frequency)
        outcome = SignupOutcome.CREATED
    elif subscriber.status in _CONFIRMED:
        outcome = SignupOutcome.ALREADY_SUBSCRIBED
    elif subscriber.status == Subscriber.Status.PENDING:
        outcome = SignupOutcome.PENDING_UPDATED
    elif is_final(subscriber):
        outcome = SignupOutcome.SUPPRESSED
    else:
        outcome = SignupOutcome.RESUBSCRIBING
    # Every outcome writes the same columns of one row (the values differ): the time a
    # sign-up takes must not tell a stranger which of these it was.
    takes_interests = outcome not in (SignupOutcome.ALREADY_SUBSCRIBED, SignupOutcome.SUPPRESSED)
    subscriber.requested_interests = (
        interests_as_json(interests, frequency=frequency, send_time=send_time)
        if takes_interests
        else None
    )
    owed = _owe_confirmation(subscriber, allowed=outcome is not SignupOutcome.SUPPRESSED)
    if created:
        subscriber.save(force_insert=True)
    else:
        subscriber.save(update_fields=_SIGNUP_FIELDS)
    logger.info("sign-up for subscriber %s: %s", subscriber.pk, outcome.value)
    return Signup(outcome=outcome, subscriber_id=subscriber.pk, confirmation_owed=owed)


_SIGNUP_FIELDS = ["requested_interests", "confirmation_requested_at"]


def interests_as_json(
    interests: Interests, *, frequency: str, send_time: SendTime | None = None
) -> dict[str, object]:
    """Interests, frequency and send time as the JSON kept in
    ``Subscriber.requested_interests``."""
    return {
        "topic_ids": list(interests.topic_ids),
        "keywords": list(interests.keywords),
        "authors": list(interests.authors),
        "excluded": list(interests.excluded),
        "positives": [list(pair) for pair in interests.positives],
        "frequency": frequency,
        "send_time": (send_time or SendTime()).as_json(),
    }


def set_interests(
    subscriber: Subscriber,
    *,
    interests: Interests,
    frequency: str,
    send_time: SendTime | None = None,
) -> None:
    """Replace a subscriber's interests and frequency, and their send time if given."""
    subscriber.keywords = list(interests.keywords)
    subscriber.authors = list(interests.authors)
    subscriber.excluded_keywords = list(interests.excluded)
    subscriber.frequency = frequency
    fields = ["keywords", "authors", "excluded_keywords", "frequency"]
    if send_time is not None:
        subscriber.send_hour = send_time.hour
        subscriber.time_zone = send_time.time_zone
        subscriber.send_weekday = send_time.weekday
        fields += ["send_hour", "time_zone", "send_weekday"]
    subscriber.save(update_fields=fields)
    subscriber.topics.set(interests.topic_ids)
    # Papers they named as liked seed their profile as "more like this" (a paper deleted
    # since the form was read is skipped).
    seeds = Paper.objects.filter(pk__in=[paper for paper, _ in interests.positives])
    Feedback.objects.bulk_create(
        [
            Feedback(subscriber=subscriber, paper_id=pk, signal=1)
            for pk in seeds.values_list("pk", flat=True)
        ],
        ignore_conflicts=True,
    )
    # Their interests' embeddings are made now, once, so a digest run only reads them.
    try:
        store_phrases(interests.keywords)
    except Exception:  # ranking embeds what is missing; a sign-up must not fail for it
        logger.exception("embedding the interests of subscriber %s failed", subscriber.pk)


def apply_requested_interests(*, subscriber_id: int) -> bool:
    """Give a not-yet-confirmed subscriber the interests their last sign-up asked for;
    False if none were waiting (or the subscriber is confirmed or suppressed meanwhile).

    Running it twice applies them once: the request is cleared in the same transaction.
    """
    with transaction.atomic():
        subscriber = (
            Subscriber.objects.select_for_update()
            .filter(pk=subscriber_id, requested_interests__isnull=False)
            .first()
        )
        if subscriber is None:
            return False
        requested = subscriber.requested_interests or {}
        Subscriber.objects.filter(pk=subscriber_id).update(requested_interests=None)
        if subscriber.status in _CONFIRMED or is_final(subscriber):
            return False
        interests = Interests(
            topic_ids=tuple(requested.get("topic_ids", ())),
            keywords=tuple(requested.get("keywords", ())),
            authors=tuple(requested.get("authors", ())),
            excluded=tuple(requested.get("excluded", ())),
            positives=tuple((int(p), float(w)) for p, w in requested.get("positives", ())),
        )
        frequency = requested.get("frequency") or subscriber.frequency
        # A request kept before sign-ups carried a send time has none: the defaults stay.
        send_time = SendTime.from_json(requested.get("send_time"))
        set_interests(subscriber, interests=interests, frequency=frequency, send_time=send_time)
    return True


def request_confirmation(subscriber: Subscriber) -> bool:
    """Owe the subscriber a confirmation email (or, confirmed, an "already subscribed" one);
    True if it is now owed (the caller queues the task that sends it).

    Not owed if any address of the same mailbox (``+tag`` and Gmail's dots aside) was owed
    one within ``CONFIRMATION_EMAIL_INTERVAL_SECONDS``, nor, to a confirmed subscriber,
    within ``ALREADY_SUBSCRIBED_EMAIL_INTERVAL_SECONDS``: typing someone's address into the
    form is no way to fill their inbox. The debt is recorded in the row: if the task is
    never queued or lost (broker down), ``send_owed_confirmations`` pays it later.
    """
    if not _owe_confirmation(subscriber):
        return False
    subscriber.save(update_fields=["confirmation_requested_at"])
    return True


def _owe_confirmation(subscriber: Subscriber, *, allowed: bool = True) -> bool:
    """Record on the (unsaved) row that a confirmation is owed, if ``allowed`` and none was
    owed within the intervals; True if it now is. The intervals are checked even when not
    allowed: a sign-up runs the same queries whatever the address."""
    now = timezone.now()
    if _asked_recently(subscriber, now) or not allowed:
        return False
    subscriber.confirmation_requested_at = now
    return True


def _asked_recently(subscriber: Subscriber, now: datetime) -> bool:
    hour = now - timedelta(seconds=settings.CONFIRMATION_EMAIL_INTERVAL_SECONDS)
    # Variants of one mailbox are rows of their own; two signing up at the same instant may
    # both be owed one (the per-IP limit still holds). Asked first, whatever the row says,
    # so that every sign-up runs this query: its time must not tell which case it was.
    mailbox = subscriber.mailbox or mailbox_of(subscriber.email)
    mailbox_asked = Subscriber.objects.filter(
        mailbox=mailbox, confirmation_requested_at__gt=hour
    ).exists()
    last = subscriber.confirmation_requested_at
    if subscriber.status in _CONFIRMED:
        since = now - timedelta(seconds=settings.ALREADY_SUBSCRIBED_EMAIL_INTERVAL_SECONDS)
        if last is not None and last > since:
            return True
    if last is not None and last > hour:
        return True
    return mailbox_asked


def resend_confirmation(*, email: str) -> int | None:
    """Owe a new confirmation link to the pending subscriber with this address, if any;
    the subscriber's id when one is now owed, else None (unknown, confirmed, or asked for
    within the interval: the person asking is told the same either way).

    Runs in a task (``tasks.resend_confirmation``): the request that asked only queues it.
    """
    subscriber = Subscriber.objects.with_email(normalise_email(email)).first()
    if subscriber is None or subscriber.status != Subscriber.Status.PENDING:
        return None
    return subscriber.pk if request_confirmation(subscriber) else None


def settle_signup(*, subscriber_id: int) -> bool:
    """Do what a sign-up left to its task: apply the interests it asked for, then send the
    confirmation (or "already subscribed") email owed, once; True if an email went."""
    apply_requested_interests(subscriber_id=subscriber_id)
    return send_owed_confirmation(subscriber_id=subscriber_id)


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
    if is_final(subscriber):
        # Owed before the address bounced or complained: the request is void, not just
        # unsent (a claim left in place would go stale and be swept again and again).
        Subscriber.objects.filter(pk=subscriber_id, confirmation_claimed_at=now).update(
            confirmation_requested_at=None
        )
        logger.info("no confirmation for subscriber %s: %s", subscriber_id, subscriber.status)
        return False
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
    """Subscribers whose sign-up a lost task left unsettled: owed a confirmation requested
    recently enough to still be worth sending, or with interests not yet applied."""
    oldest = timezone.now() - timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS)
    owed = _owed() & Q(confirmation_requested_at__gte=oldest)
    return list(
        Subscriber.objects.filter(owed | Q(requested_interests__isnull=False))
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
