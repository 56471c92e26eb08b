"""What we hold about a reader: all of it as a file they can download, or none of it.

"All of it" is every row that names the subscriber or their address: the subscriber, their
interests, the digests we sent (with the papers in them), their feedback, the ESP events
about their address, and the admin log's entries about them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from subscriptions.models import (
    Digest,
    DigestClick,
    DigestOpen,
    Feedback,
    SavedPaper,
    Subscriber,
    WebhookEvent,
)
from subscriptions.people.suppression import remember_if_final

# The subscriber's fields a reader gets in their file (manage_key is left out: it is the
# secret in their links, not something about them).
_SUBSCRIBER_FIELDS = (
    "email",
    "status",
    "frequency",
    "keywords",
    "authors",
    "excluded_keywords",
    "tracking",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "confirmation_requested_at",
    "confirmation_sent_at",
    "requested_interests",
    "soft_bounces",
    "last_soft_bounce_at",
)


def events_about(email: str) -> QuerySet[WebhookEvent]:
    """The ESP tracking events recorded for this address, whatever its case."""
    return WebhookEvent.objects.alias(recipient_lower=Lower("recipient")).filter(
        recipient_lower=Lower(Value(email))
    )


def _admin_log_about(subscriber: Subscriber) -> QuerySet[LogEntry]:
    content_type = ContentType.objects.get_for_model(Subscriber)
    return LogEntry.objects.filter(content_type=content_type, object_id=str(subscriber.pk))


def personal_data(*, subscriber: Subscriber) -> dict[str, Any]:
    """Everything we hold about the subscriber, as JSON-ready values (GDPR access)."""
    fields = {name: _plain(getattr(subscriber, name)) for name in _SUBSCRIBER_FIELDS}
    fields["topics"] = list(subscriber.topics.order_by("slug").values_list("slug", flat=True))
    digests = (
        Digest.objects.filter(subscriber=subscriber)
        .order_by("day", "pk")
        .prefetch_related("items__paper")
    )
    feedback = Feedback.objects.filter(subscriber=subscriber).order_by("created_at", "pk")
    return {
        "generated_at": _plain(timezone.now()),
        "subscriber": fields,
        "digests": [
            {
                "period": digest.period,
                "day": _plain(digest.day),
                "status": digest.status,
                "sent_at": _plain(digest.sent_at),
                "papers": [
                    {
                        "paper_id": item.paper_id,
                        "arxiv_id": item.paper.arxiv_id,
                        "title": item.paper.title,
                        "section": item.section,
                        "reasons": item.reasons,
                    }
                    for item in digest.items.all()
                ],
            }
            for digest in digests
        ],
        "feedback": [
            {"paper_id": entry.paper_id, "signal": entry.signal, "at": _plain(entry.created_at)}
            for entry in feedback
        ],
        "saved_papers": [
            {"paper_id": entry.paper_id, "saved_at": _plain(entry.saved_at)}
            for entry in SavedPaper.objects.filter(subscriber=subscriber).order_by("saved_at", "pk")
        ],
        "opens": [
            {"digest_id": entry.digest_id, "at": _plain(entry.opened_at)}
            for entry in DigestOpen.objects.filter(digest__subscriber=subscriber).order_by("pk")
        ],
        "clicks": [
            {
                "digest_id": entry.digest_id,
                "paper_id": entry.paper_id,
                "at": _plain(entry.clicked_at),
            }
            for entry in DigestClick.objects.filter(digest__subscriber=subscriber).order_by("pk")
        ],
        "email_events": [
            {"type": event.event_type, "received_at": _plain(event.received_at)}
            for event in events_about(subscriber.email).order_by("received_at", "pk")
        ],
        "changes_by_editors": [
            {"at": _plain(entry.action_time), "change": entry.get_change_message()}
            for entry in _admin_log_about(subscriber).order_by("action_time", "pk")
        ],
    }


@transaction.atomic
def delete_personal_data(*, subscriber: Subscriber) -> None:
    """Delete the subscriber and everything recorded about them; what must stay (an ESP
    event's id, so a replay is still recognised; the admin log of what editors did) stays
    without the address."""
    remember_if_final(subscriber)  # a bounce or complaint outlives the data, as a hash
    events_about(subscriber.email).update(recipient="")
    _admin_log_about(subscriber).update(object_repr=f"deleted subscriber {subscriber.pk}")
    subscriber.delete()  # digests, their items, feedback and interests go with it


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
