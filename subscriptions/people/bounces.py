"""What ESP tracking events mean for subscribers: hard bounces and complaints suppress them.

Anymail verifies the webhook (basic auth with ``WEBHOOK_SECRET``) and normalises the event;
this module only decides what to do with it, once per event id. A soft bounce (a full
mailbox, a receiving server down for a while) suppresses nobody at once: the ESP tries
again, and an address that is really gone comes back as a hard bounce. Only
``SOFT_BOUNCE_LIMIT`` soft bounces in a row do, each within ``SOFT_BOUNCE_WINDOW_DAYS`` of
the one before, with no delivery, open or click reported in between.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, QuerySet, Value, When
from django.utils import timezone

from subscriptions.models import Subscriber, WebhookEvent
from subscriptions.people.suppression import suppress

logger = logging.getLogger(__name__)

# Events that show the address works: the soft bounces before them no longer count.
_REACHED_THE_READER = {EventType.DELIVERED, EventType.OPENED, EventType.CLICKED}

_SUPPRESSING = {
    EventType.BOUNCED: Subscriber.Status.BOUNCED,
    EventType.REJECTED: Subscriber.Status.BOUNCED,
    EventType.COMPLAINED: Subscriber.Status.COMPLAINED,
    EventType.UNSUBSCRIBED: Subscriber.Status.UNSUBSCRIBED,
}


# SparkPost's bounce classes of its "Hard" and "Admin" categories: the others (soft, block,
# undetermined) "are usually temporary events", says its bounce classification page.
_SPARKPOST_SUPPRESSING_CLASSES = {"10", "25", "26", "30", "90"}


def _brevo_or_mandrill(raw: Mapping) -> bool:
    return raw.get("event") == "soft_bounce"


# Anymail reports some ESPs' soft bounces as "bounced", as it does hard ones; the ESP's own
# payload (``event.esp_event``) says which it was. ESPs not listed report soft bounces as
# "deferred" (Mailgun, Postal, Mailtrap, ...), which changes nothing here anyway.
_SOFT_BOUNCE: dict[str, Callable[[Mapping], bool]] = {
    "Postmark": lambda raw: raw.get("Type") == "SoftBounce",
    "Brevo": _brevo_or_mandrill,
    "SendinBlue": _brevo_or_mandrill,
    "Mandrill": _brevo_or_mandrill,
    "MailerSend": lambda raw: (raw.get("data") or {}).get("type") == "soft_bounced",
    "Mailjet": lambda raw: raw.get("hard_bounce") is False,
    "Amazon SES": lambda raw: (raw.get("bounce") or {}).get("bounceType") == "Transient",
    "SparkPost": lambda raw: any(
        isinstance(event, Mapping)
        and event.get("bounce_class") not in (None, *_SPARKPOST_SUPPRESSING_CLASSES)
        for event in (raw.get("msys") or {}).values()
    ),
}


def is_soft_bounce(event: AnymailTrackingEvent, esp_name: str) -> bool:
    """A "bounced" event that the ESP itself calls temporary."""
    soft = _SOFT_BOUNCE.get(esp_name)
    raw: Any = event.esp_event
    return (
        event.event_type == EventType.BOUNCED
        and soft is not None
        and isinstance(raw, Mapping)
        and soft(raw)
    )


def event_key(event: AnymailTrackingEvent) -> str:
    """The ESP's id for the event, or a stable stand-in for ESPs that send none."""
    if event.event_id:
        return str(event.event_id)[:255]
    raw = f"{event.esp_event!r}|{event.event_type}|{event.recipient}|{event.message_id}"
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def record_tracking_event(event: AnymailTrackingEvent, esp_name: str) -> bool:
    """Act on a tracking event once; True if it suppressed someone.

    False for a replay, an event that changes nothing, or a soft bounce that is not yet the
    ``SOFT_BOUNCE_LIMIT``-th in a row.
    """
    if not event.recipient:
        return False
    subscribers: QuerySet[Subscriber] = Subscriber.objects.with_email(event.recipient)
    if event.event_type in _REACHED_THE_READER:
        subscribers.filter(soft_bounces__gt=0).update(soft_bounces=0)
        return False
    status = _SUPPRESSING.get(event.event_type)
    if status is None:
        return False
    soft = is_soft_bounce(event, esp_name)
    kind = "soft bounce" if soft else event.event_type
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                event_id=event_key(event),
                event_type=kind,
                recipient=event.recipient[:254],
            )
            if soft:
                subscribers = _count_soft_bounce(subscribers)
            changed = suppress(subscribers, status=status)
    except IntegrityError:
        logger.info("tracking event %s already handled", event_key(event))
        return False
    logger.info("%s for %s: %s subscriber(s) now %s", kind, event.recipient, changed, status)
    return bool(changed)


def _count_soft_bounce(subscribers: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    """Count one more soft bounce in a row (the first, after a long quiet spell).

    Returns those of ``subscribers`` that have now reached the limit.
    """
    now = timezone.now()
    recent = now - timedelta(days=settings.SOFT_BOUNCE_WINDOW_DAYS)
    subscribers.update(
        soft_bounces=Case(
            When(last_soft_bounce_at__gte=recent, then=F("soft_bounces") + 1), default=Value(1)
        ),
        last_soft_bounce_at=now,
    )
    return subscribers.filter(soft_bounces__gte=settings.SOFT_BOUNCE_LIMIT)
