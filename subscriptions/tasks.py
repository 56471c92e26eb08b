"""Celery tasks for subscriptions. Each only calls into the modules that do the work."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subscriptions.delivery import retention
from subscriptions.delivery.counts import recent_periods, recount
from subscriptions.delivery.recovery import recover
from subscriptions.delivery.runs import finish_run, process_batch, retry_batch_later, start_run
from subscriptions.delivery.schedule import due_runs, hour_slot
from subscriptions.delivery.sending import mark_stale_claims_unknown, send_pending_digests
from subscriptions.models import Subscriber
from subscriptions.people import preferences
from subscriptions.people.signup import owed_confirmation_ids, resend_confirmation, settle_signup

logger = logging.getLogger(__name__)

# An email a person asked for (a confirmation, a link): retried with backoff if the ESP
# fails, acknowledged only once it ran.
EMAIL_TASK: dict[str, Any] = {
    "autoretry_for": (Exception,),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_kwargs": {"max_retries": 5},
    "acks_late": True,
}


@shared_task(**EMAIL_TASK)
def send_confirmation(subscriber_id: int) -> bool:
    """Answer a sign-up: apply the interests it asked for and send the email it is owed,
    if any (none for an address suppressed for good). Running twice sends it once."""
    return settle_signup(subscriber_id=subscriber_id)


def queue_confirmation(subscriber_id: int) -> None:
    """Queue the answer to a sign-up, once the transaction commits; queued for every sign-up
    whatever the address's state, so the request takes the same time for all.

    If the broker cannot take it, the error is logged and the debt stays recorded for the
    ``send_owed_confirmations`` sweep: the sign-up itself never fails for it.
    """
    transaction.on_commit(lambda: send_confirmation.delay(subscriber_id), robust=True)


@shared_task(**EMAIL_TASK)
def send_preferences_link(subscriber_id: int, request_id: str) -> bool:
    """Email a subscriber a fresh preferences link. Running twice sends it once."""
    return preferences.send_preferences_link(subscriber_id=subscriber_id, request_id=request_id)


@shared_task(**EMAIL_TASK)
def send_requested_preferences_link(email: str, request_id: str) -> bool:
    """Email the address someone typed a preferences link, if it gets the digest. Running
    twice sends it once."""
    return preferences.send_requested_preferences_link(email=email, request_id=request_id)


def queue_preferences_link(subscriber_id: int) -> None:
    """Queue a fresh preferences link for the subscriber, once the transaction commits."""
    request_id = uuid.uuid4().hex
    transaction.on_commit(
        lambda: send_preferences_link.delay(subscriber_id, request_id), robust=True
    )


def queue_preferences_link_request(email: str) -> None:
    """Queue "email me a new link" for an address, whatever the address: the request does
    the same work for every address, and the task decides whether anything is sent."""
    request_id = uuid.uuid4().hex
    transaction.on_commit(
        lambda: send_requested_preferences_link.delay(email, request_id), robust=True
    )


@shared_task(**EMAIL_TASK)
def resend_confirmation_to(email: str) -> bool:
    """Send a new confirmation link if the address is a pending subscriber's (at most one an
    hour). Takes the address, not an id: the request that asked looks nothing up, so it
    takes the same time for a known address as for an unknown one."""
    owed = resend_confirmation(email=email)
    return settle_signup(subscriber_id=owed) if owed is not None else False


def queue_resend(email: str) -> None:
    """Queue ``resend_confirmation_to`` after the transaction commits; if the broker cannot
    take it the request is only logged (the person can ask again)."""
    transaction.on_commit(lambda: resend_confirmation_to.delay(email), robust=True)


@shared_task(acks_late=True)
def send_owed_confirmations() -> int:
    """Send every confirmation still owed (a queued task may have been lost); return count."""
    sent = 0
    for subscriber_id in owed_confirmation_ids():
        try:
            sent += settle_signup(subscriber_id=subscriber_id)
        except Exception:
            # Still owed (the claim was given back): the next sweep tries again.
            logger.exception("confirmation for subscriber %s failed", subscriber_id)
    return sent


@shared_task(acks_late=True)
def send_due_digests(at: str | None = None) -> int:
    """Every hour: start the runs of the readers whose local hour has come (``at``: an ISO
    UTC time, default now), daily and weekly, and those of the last ``CATCH_UP_HOURS``
    whose run never started; one ``send_digest_batch`` task per batch.

    Safe to run twice: a reader with their period's digest is in no batch the second time.
    """
    moment = datetime.fromisoformat(at) if at else timezone.now()
    catch_up = settings.DIGESTS["CATCH_UP_HOURS"]
    batches = 0
    for frequency in Subscriber.Frequency.values:
        for due in due_runs(at=moment, frequency=frequency, catch_up_hours=catch_up):
            batches += _queue_run(day=due.day, frequency=frequency, slot=due.slot)
    return batches


@shared_task(acks_late=True)
def send_digests(frequency: str = "daily", day: str | None = None, hour: int | None = None) -> int:
    """Start a day's run for every reader of ``frequency`` whatever their hour (or those
    whose local hour is ``hour``): one ``send_digest_batch`` task per batch of subscribers.

    Safe to run twice: a batch whose digests exist builds nothing and sends only what is
    still pending.
    """
    run_day = date.fromisoformat(day) if day else timezone.localdate()
    slot = hour_slot(hour) if hour is not None else ""
    return _queue_run(day=run_day, frequency=frequency, slot=slot)


def _queue_run(*, day: date, frequency: str, slot: str) -> int:
    batches = 0
    for first_id, last_id in start_run(day=day, frequency=frequency, slot=slot):
        send_digest_batch.delay(day.isoformat(), frequency, first_id, last_id, slot)
        batches += 1
    finish_run(day=day, frequency=frequency)
    return batches


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_digest_batch(
    self, day: str, frequency: str, first_id: int, last_id: int, slot: str = ""
) -> dict:
    """Build and send one batch; retry later while the ESP reports passing failures."""
    built, report = process_batch(
        day=date.fromisoformat(day),
        frequency=frequency,
        first_id=first_id,
        last_id=last_id,
        slot=slot,
    )
    if report.retry_later and not report.paused:
        limits = settings.DIGESTS
        if self.request.retries < limits["MAX_SEND_RETRIES"]:
            backoff = limits["RETRY_BASE_SECONDS"] * 2**self.request.retries
            # Never wait longer than the broker's visibility timeout allows (see settings).
            countdown = min(max(backoff, report.retry_after or 0), limits["RETRY_MAX_SECONDS"])
            retry_batch_later(
                day=date.fromisoformat(day),
                frequency=frequency,
                first_id=first_id,
                last_id=last_id,
                seconds=countdown,
                slot=slot,
            )
            raise self.retry(countdown=countdown)
        logger.error(
            "digest batch %s-%s: giving up retrying after %s tries",
            first_id,
            last_id,
            self.request.retries,
        )
    return {"built": built.built, "sent": report.sent, "failed": report.failed}


@shared_task(acks_late=True)
def recover_sending() -> dict:
    """Every minute: queue again what dead workers left (see ``delivery/recovery.py``)."""
    found = recover()
    recount(recent_periods())  # events, retries and resends move digests after their run
    for day, frequency, first_id, last_id, slot in found.batches:
        send_digest_batch.delay(day.isoformat(), frequency, first_id, last_id, slot)
    for period, first_id, last_id in found.resend_ranges:
        send_pending_batch.delay(period, first_id, last_id)
    return {
        "batches": len(found.batches),
        "marked_unknown": found.marked_unknown,
        "resent": found.resent,
    }


@shared_task(acks_late=True)
def mark_stale_digests_unknown() -> int:
    """The sweep's name before ``recover_sending`` (a message may still be queued)."""
    return mark_stale_claims_unknown()


@shared_task(acks_late=True)
def apply_retention() -> dict:
    """Nightly: retire old papers, delete their digest items, compact or drop old digests.
    Running twice (or after an interrupted run) does only what is left."""
    report = retention.apply_retention()
    return {
        "papers_retired": report.papers_retired,
        "items_deleted": report.items_deleted,
        "digests_compacted": report.digests_compacted,
        "digests_dropped": report.digests_dropped,
    }


@shared_task(acks_late=True)
def send_pending_batch(period: str, first_id: int, last_id: int) -> dict:
    """Send what is pending in a range of one period (e.g. failed digests put back)."""
    report = send_pending_digests(period=period, first_id=first_id, last_id=last_id)
    return {"sent": report.sent, "failed": report.failed, "retry_later": report.retry_later}
