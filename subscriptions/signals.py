"""Signal receivers: entry points only, each hands over to the module that does the work."""

from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver

from subscriptions.delivery.engagement import record_open
from subscriptions.delivery.settling import settle_from_event
from subscriptions.people.bounces import record_tracking_event


@receiver(tracking)
def on_tracking_event(
    sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    settle_from_event(event)
    record_open(event)
    record_tracking_event(event, esp_name)
