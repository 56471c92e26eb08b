"""Sending digests exactly once: claim, send through anymail, record.

Each digest is claimed with a conditional update (pending -> sending) just before it is
sent, so two workers never both send it, and a worker killed mid-batch leaves the digests it
had not reached pending. A digest left "sending" by a dead worker may or may not have
reached the ESP: ``mark_stale_claims_unknown`` marks it "unknown" and it is not resent.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.db.models import F, Max, Min
from django.utils import timezone

from .emails import digest_email
from .models import Digest, DigestRun, Subscriber
from .selectors import digests_with_content

logger = logging.getLogger(__name__)


class TransientSendError(Exception):
    """The ESP could not take the message now; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class SendReport:
    """What one pass over a batch did."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry_later: int = 0
    retry_after: float | None = None
    paused: bool = False


def send_pending_digests(*, period: str, first_id: int, last_id: int) -> SendReport:
    """Send this period's pending digests of subscribers with ids in [first_id, last_id].

    Permanent failures mark the digest failed; transient ones leave it pending and say when
    to try again. After ``MAX_CONSECUTIVE_FAILURES`` failures in a row the run is paused.
    """
    report = SendReport()
    run = DigestRun.objects.filter(period=period).first()
    if run is not None and run.paused_reason:
        report.paused = True
        return report
    digests = list(
        digests_with_content()
        .filter(
            period=period,
            status=Digest.Status.PENDING,
            subscriber_id__gte=first_id,
            subscriber_id__lte=last_id,
        )
        .order_by("subscriber_id")
    )
    failures_in_a_row = 0
    for digest in digests:
        outcome = send_digest(digest)
        if outcome == "sent":
            report.sent += 1
            failures_in_a_row = 0
            continue
        if outcome == "skipped":
            report.skipped += 1
            continue
        if isinstance(outcome, TransientSendError):
            report.retry_later += 1
            report.retry_after = max(report.retry_after or 0, outcome.retry_after or 0) or None
        else:
            report.failed += 1
        failures_in_a_row += 1
        if failures_in_a_row >= settings.DIGESTS["MAX_CONSECUTIVE_FAILURES"]:
            last = outcome if isinstance(outcome, TransientSendError) else describe(outcome)
            reason = f"paused after {failures_in_a_row} failed sends in a row (last: {last})"
            DigestRun.objects.filter(period=period).update(paused_reason=reason)
            logger.error("digests for %s: %s", period, reason)
            report.paused = True
            break
    return report


def send_digest(digest: Digest) -> str | Exception:
    """Claim, send and record one digest: "sent", "skipped", or the error it failed with."""
    # Rendered before the claim: a template error leaves the digest pending, not "sending".
    email = digest_email(digest)
    if not _claim(digest):
        return "skipped"
    try:
        email.send()
    except (AnymailRecipientsRefused, smtplib.SMTPRecipientsRefused) as error:
        _record_failure(digest, error)
        return error
    except Exception as error:
        transient = _as_transient(error)
        if transient is None:
            _record_failure(digest, error)
            return error
        # Back to pending: the ESP did not take it, so sending again cannot duplicate it.
        Digest.objects.filter(pk=digest.pk, status=Digest.Status.SENDING).update(
            status=Digest.Status.PENDING, error=str(transient)
        )
        return transient
    status = getattr(email, "anymail_status", None)
    message_id = getattr(status, "message_id", None) or email.extra_headers["Message-ID"]
    Digest.objects.filter(pk=digest.pk, status=Digest.Status.SENDING).update(
        status=Digest.Status.SENT,
        sent_at=timezone.now(),
        esp_message_id=str(message_id)[:255],
        error="",
    )
    return "sent"


def _claim(digest: Digest) -> bool:
    """Take the digest for sending, unless someone else has or its subscriber has left."""
    # The subscriber's status is checked through "subscriber_id IN (...)", not a join: with
    # a join Django writes "WHERE id IN (SELECT ... JOIN ...)", which PostgreSQL does not
    # re-check when a concurrent claim commits first, and both workers would send.
    active = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).values("pk")
    claimed = Digest.objects.filter(
        pk=digest.pk, status=Digest.Status.PENDING, subscriber_id__in=active
    ).update(status=Digest.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    if claimed:
        return True
    # Not ours: already taken, or the subscriber unsubscribed (or bounced) since it was built.
    Digest.objects.filter(pk=digest.pk, status=Digest.Status.PENDING).exclude(
        subscriber_id__in=active
    ).update(status=Digest.Status.SKIPPED, error="the subscriber is no longer active")
    return False


def _record_failure(digest: Digest, error: Exception) -> None:
    logger.warning("digest %s failed for good: %s", digest.pk, describe(error))
    Digest.objects.filter(pk=digest.pk, status=Digest.Status.SENDING).update(
        status=Digest.Status.FAILED, error=describe(error)
    )


def _as_transient(error: Exception) -> TransientSendError | None:
    """The error as a passing one (5xx, 429, timeouts, connection trouble), else None."""
    if isinstance(error, AnymailError):
        code = getattr(error, "status_code", None)
        if code is None and not isinstance(error, AnymailAPIError):
            return None
        if code is None or code == 429 or code >= 500:
            return TransientSendError(describe(error), _retry_after(error))
        return None
    if isinstance(error, smtplib.SMTPResponseException):
        return TransientSendError(describe(error)) if 400 <= error.smtp_code < 500 else None
    # Timeouts, refused connections and other SMTP trouble (all OSError subclasses).
    if isinstance(error, OSError):
        return TransientSendError(describe(error))
    return None


def describe(error: Exception) -> str:
    """A one-line account of a send error (anymail's own can fail to describe themselves)."""
    try:
        text = str(error)
    except Exception:
        text = repr(error.args)
    return f"{error.__class__.__name__}: {text}"[:2000]


def _retry_after(error: AnymailError) -> float | None:
    response = getattr(error, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def mark_stale_claims_unknown() -> int:
    """Digests claimed long ago and still "sending": their worker died mid-send. Never resent."""
    cutoff = timezone.now() - timedelta(minutes=settings.DIGESTS["STALE_CLAIM_MINUTES"])
    return Digest.objects.filter(status=Digest.Status.SENDING, claimed_at__lt=cutoff).update(
        status=Digest.Status.UNKNOWN,
        error="the worker stopped between claiming and recording; the ESP may have it",
    )


def retry_failed_digests(*, digest_ids: list[int]) -> list[tuple[str, int, int]]:
    """Put failed digests back to pending; the (period, first id, last id) ranges to send.

    Only "failed" ones move: a sent or "unknown" digest is never resent.
    """
    Digest.objects.filter(pk__in=digest_ids, status=Digest.Status.FAILED).update(
        status=Digest.Status.PENDING, error=""
    )
    ranges = (
        Digest.objects.filter(pk__in=digest_ids, status=Digest.Status.PENDING)
        .values("period")
        .annotate(first=Min("subscriber_id"), last=Max("subscriber_id"))
        .values_list("period", "first", "last")
    )
    return list(ranges)
