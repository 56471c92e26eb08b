"""Digests in doubt, settled by what the ESP tells us about them afterwards.

A digest is left "sending" (later "unknown") when it was handed to the ESP and no answer
came: a lost response, a killed worker. The ESP knows whether it took it: every digest
carries its own id in anymail's ``metadata``, and any tracking event for it (queued, sent,
delivered, deferred, bounced, opened, clicked...) says it was taken. A rejection or failure
says it was taken and refused.
"""

from __future__ import annotations

import logging

from anymail.signals import AnymailTrackingEvent, EventType
from django.db.models import Q
from django.utils import timezone

from subscriptions.models import Digest

logger = logging.getLogger(__name__)

# The key of the digest's id in anymail's metadata (an ESP sends metadata back as strings).
DIGEST_ID_KEY = "digest_id"

_REFUSED = {EventType.REJECTED, EventType.FAILED}
# In doubt, or put back to be sent once more and not yet claimed: a late event saves a resend.
_IN_DOUBT = Q(status__in=(Digest.Status.SENDING, Digest.Status.UNKNOWN)) | Q(
    status=Digest.Status.PENDING, resent_at__isnull=False
)


def digest_metadata(digest_id: int) -> dict[str, str]:
    """The metadata a digest is sent with, so that the ESP's events can name it."""
    return {DIGEST_ID_KEY: str(digest_id)}


def settle_from_event(event: AnymailTrackingEvent) -> bool:
    """Decide a digest in doubt from an ESP event about it; True if one was decided.

    Events for digests already decided (or never claimed), replays, and events with no or a
    malformed digest id change nothing.
    """
    raw = (event.metadata or {}).get(DIGEST_ID_KEY)
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
        return False
    in_doubt = Digest.objects.filter(_IN_DOUBT, pk=int(raw))
    if event.event_type in _REFUSED:
        reason = event.reject_reason or event.description or event.event_type
        changed = in_doubt.update(
            status=Digest.Status.FAILED, error=f"ESP event: {reason}"[:2000], settled_by_event=True
        )
    else:
        changed = in_doubt.update(
            status=Digest.Status.SENT,
            settled_by_event=True,
            sent_at=event.timestamp or timezone.now(),
            esp_message_id=str(event.message_id or "")[:255],
            error="",
        )
    if changed:
        logger.info("digest %s settled by a %s event", raw, event.event_type)
    return bool(changed)
