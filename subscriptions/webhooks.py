"""What ESP tracking events mean for subscribers: hard bounces and complaints suppress them.

Anymail verifies the webhook (basic auth with ``WEBHOOK_SECRET``) and normalises the event;
this module only decides what to do with it, once per event id.
"""

from __future__ import annotations

import hashlib
import logging

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


def event_key(event: AnymailTrackingEvent) -> str:
    """The ESP's id for the event, or a stable stand-in for ESPs that send none."""
    if event.event_id:
        return str(event.event_id)[:255]
    raw = f"{event.esp_event!r}|{event.event_type}|{event.recipient}|{event.message_id}"
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def record_tracking_event(event: AnymailTrackingEvent) -> bool:
    """Act on a tracking event once; False for a replay or an event that changes nothing."""
    status = _SUPPRESSING.get(event.event_type)
    if status is None or not event.recipient:
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
