"""What a subscriber does from the links in their emails: pause, resume, leave, delete."""

from __future__ import annotations

from subscriptions.models import Feedback, Subscriber
from subscriptions.people.suppression import suppress


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
    """Send nothing more. Repeating it changes nothing; signing up again needs confirmation."""
    suppress(Subscriber.objects.filter(pk=subscriber.pk), status=Subscriber.Status.UNSUBSCRIBED)


def delete_subscriber(subscriber: Subscriber) -> None:
    """Delete the subscriber and everything recorded about them."""
    subscriber.delete()


def record_feedback(subscriber: Subscriber, *, paper_id: int, signal: int) -> None:
    """Remember "more like this" (+1) or "less like this" (-1); the latest word counts."""
    Feedback.objects.update_or_create(
        subscriber=subscriber, paper_id=paper_id, defaults={"signal": signal}
    )
