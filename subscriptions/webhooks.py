"""What ESP tracking events mean for subscribers: hard bounces and complaints suppress them.

Anymail verifies the webhook (basic auth with ``WEBHOOK_SECRET``) and normalises the event;
this module only decides what to do with it, once per event id. A soft bounce (a full
mailbox, a receiving server down for a while) suppresses nobody: the ESP tries again, and an
address that is really gone comes back as a hard bounce.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Subscriber, WebhookEvent

logger = logging.getLogger(__name__)

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
    """Act on a tracking event once; False for a replay or an event that changes nothing."""
    status = _SUPPRESSING.get(event.event_type)
    if status is None or not event.recipient:
        return False
    if is_soft_bounce(event, esp_name):
        logger.info("soft bounce for %s (%s): not suppressed", event.recipient, esp_name)
        return False
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                event_id=event_key(event),
                event_type=event.event_type,
                recipient=event.recipient[:254],
            )
            changed = (
                Subscriber.objects.filter(email__iexact=event.recipient)
                .exclude(status=status)
                .update(status=status, unsubscribed_at=timezone.now())
            )
    except IntegrityError:
        logger.info("tracking event %s already handled", event_key(event))
        return False
    logger.info(
        "%s for %s: %s subscriber(s) now %s", event.event_type, event.recipient, changed, status
    )
    return bool(changed)
