"""Celery tasks for subscriptions. Each only calls into the modules that do the work."""

from __future__ import annotations

import logging

from celery import shared_task

from .signup import owed_confirmation_ids, send_owed_confirmation

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_kwargs={"max_retries": 5},
    acks_late=True,
)
def send_confirmation(subscriber_id: int) -> bool:
    """Send the confirmation a subscriber is owed. Running twice sends it once."""
    return send_owed_confirmation(subscriber_id=subscriber_id)


@shared_task(acks_late=True)
def send_owed_confirmations() -> int:
    """Send every confirmation still owed (a queued task may have been lost); return count."""
    sent = 0
    for subscriber_id in owed_confirmation_ids():
        try:
            sent += send_owed_confirmation(subscriber_id=subscriber_id)
        except Exception:
            # Still owed (the claim was given back): the next sweep tries again.
            logger.exception("confirmation for subscriber %s failed", subscriber_id)
    return sent
