"""Sending digests exactly once: claim, send through anymail, record; a chunk at a time.

A chunk of a batch's digests is claimed with one conditional update (pending -> sending)
just before it is sent, so two workers never both send a digest; then each is sent over the
batch's one ESP connection, and the chunk's outcomes are recorded with one update. A worker
killed mid-chunk leaves that chunk's digests "sending": any of them may have reached the
ESP, so ``mark_stale_claims_unknown`` later marks them "unknown" and they are not resent.
The rest of its batch stays pending for the rerun. ``SEND_CHUNK_SIZE`` trades the number of
digests a killed worker leaves unknown against two queries per chunk.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import get_connection
from django.db import connection
from django.db.models import F, Max, Min
from django.utils import timezone

from subscriptions.delivery.content import Content, digest_contents
from subscriptions.delivery.render import digest_email
from subscriptions.models import Digest, DigestRun, Subscriber

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
    failures_in_a_row: int = 0
    last_error: str = ""


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
        Digest.objects.select_related("subscriber")
        .filter(
            period=period,
            status=Digest.Status.PENDING,
            subscriber_id__gte=first_id,
            subscriber_id__lte=last_id,
        )
        .order_by("subscriber_id")
    )
    contents = digest_contents(digests)
    size = settings.DIGESTS["SEND_CHUNK_SIZE"]
    with get_connection() as connection:  # one ESP connection for the whole batch
        for start in range(0, len(digests), size):
            chunk = digests[start : start + size]
            send_chunk(chunk, contents=contents, connection=connection, report=report)
            if report.paused:
                break
    return report


@dataclass
class _Outcomes:
    """What happened to each claimed digest of a chunk, until it is recorded."""

    sent: dict[int, str] = field(default_factory=dict)  # digest id -> ESP message id
    failed: dict[int, str] = field(default_factory=dict)  # digest id -> error
    retry: dict[int, str] = field(default_factory=dict)  # digest id -> error
    not_tried: list[int] = field(default_factory=list)  # the run paused before these
    in_flight: int | None = None  # handed to the ESP, outcome not known yet


def send_chunk(
    digests: Sequence[Digest],
    *,
    contents: dict[int, Content] | None = None,
    connection: Any = None,
    report: SendReport | None = None,
) -> SendReport:
    """Claim, send and record these digests (with their subscribers loaded)."""
    report = report if report is not None else SendReport()
    connection = connection or get_connection()
    contents = contents if contents is not None else digest_contents(digests)
    # Rendered before the claim: a template error leaves the digests pending, not "sending".
    emails = {digest.pk: digest_email(digest, contents[digest.pk]) for digest in digests}
    claimed = _claim(list(emails))
    report.skipped += len(emails) - len(claimed)
    outcomes = _Outcomes()
    try:
        for digest in digests:
            if digest.pk not in claimed:
                continue
            if report.paused:
                outcomes.not_tried.append(digest.pk)
                continue
            outcomes.in_flight = digest.pk
            _send(digest.pk, emails[digest.pk], connection, outcomes, report)
            outcomes.in_flight = None
            if report.failures_in_a_row >= settings.DIGESTS["MAX_CONSECUTIVE_FAILURES"]:
                _pause(digest.period, report)
    finally:
        # Also after an unexpected error: what was sent is recorded as sent, not left to
        # become "unknown"; what was not handed to the ESP goes back to pending. One caught
        # in flight stays "sending" (later "unknown"): the ESP may have it.
        decided = _decided(outcomes) | {outcomes.in_flight}
        outcomes.not_tried += [pk for pk in claimed if pk not in decided]
        _record(outcomes)
    return report


def _send(
    digest_id: int, email: Any, connection: Any, outcomes: _Outcomes, report: SendReport
) -> None:
    """Hand one email to the ESP and note the outcome."""
    try:
        connection.send_messages([email])
    except (AnymailRecipientsRefused, smtplib.SMTPRecipientsRefused) as error:
        report.last_error = outcomes.failed[digest_id] = describe(error)
        report.failed += 1
    except Exception as error:
        transient = _as_transient(error)
        if transient is None:
            report.last_error = outcomes.failed[digest_id] = describe(error)
            report.failed += 1
        else:
            # The ESP did not take it, so sending it again cannot duplicate it.
            report.last_error = outcomes.retry[digest_id] = str(transient)
            report.retry_later += 1
            report.retry_after = max(report.retry_after or 0, transient.retry_after or 0) or None
            _reconnect(connection)
    else:
        status = getattr(email, "anymail_status", None)
        message_id = getattr(status, "message_id", None) or email.extra_headers["Message-ID"]
        outcomes.sent[digest_id] = str(message_id)[:255]
        report.sent += 1
        report.failures_in_a_row = 0
        return
    report.failures_in_a_row += 1


def _pause(period: str, report: SendReport) -> None:
    """Stop the run: the ESP is probably down. Clearing the reason in the admin resumes it."""
    last = report.last_error
    reason = f"paused after {report.failures_in_a_row} failed sends in a row (last: {last})"
    DigestRun.objects.filter(period=period).update(paused_reason=reason)
    logger.error("digests for %s: %s", period, reason)
    report.paused = True


def _decided(outcomes: _Outcomes) -> set[int]:
    return {*outcomes.sent, *outcomes.failed, *outcomes.retry, *outcomes.not_tried}


def _reconnect(connection: Any) -> None:
    """After a connection error, start the next send on a fresh connection."""
    with contextlib.suppress(Exception):
        connection.close()
    with contextlib.suppress(Exception):
        connection.open()


def _claim(digest_ids: list[int]) -> set[int]:
    """Take the digests for sending, except those someone else took or whose subscriber left.

    One update in the usual case (all taken); a second and third only when some were not.
    """
    # The subscriber's status is checked through "subscriber_id IN (...)", not a join: with
    # a join Django writes "WHERE id IN (SELECT ... JOIN ...)", which PostgreSQL does not
    # re-check when a concurrent claim commits first, and both workers would send.
    active = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).values("pk")
    pending = Digest.objects.filter(pk__in=digest_ids, status=Digest.Status.PENDING)
    token = uuid.uuid4()
    claimed = pending.filter(subscriber_id__in=active).update(
        status=Digest.Status.SENDING,
        claimed_at=timezone.now(),
        claim_token=token,
        attempts=F("attempts") + 1,
    )
    if claimed == len(digest_ids):
        return set(digest_ids)
    # Not all ours: taken by another worker, or the subscriber unsubscribed (or bounced)
    # since the digest was built.
    pending.exclude(subscriber_id__in=active).update(
        status=Digest.Status.SKIPPED, error="the subscriber is no longer active"
    )
    mine = Digest.objects.filter(pk__in=digest_ids, claim_token=token)
    return set(mine.values_list("pk", flat=True))


def _record(outcomes: _Outcomes) -> None:
    """Write a chunk's outcomes: one update for everything sent, and one per other outcome."""
    claimed = Digest.objects.filter(status=Digest.Status.SENDING)
    if outcomes.sent:
        _mark_sent(outcomes.sent)
    for digest_id, error in outcomes.failed.items():
        logger.warning("digest %s failed for good: %s", digest_id, error)
        claimed.filter(pk=digest_id).update(status=Digest.Status.FAILED, error=error)
    for digest_id, error in outcomes.retry.items():
        claimed.filter(pk=digest_id).update(status=Digest.Status.PENDING, error=error)
    if outcomes.not_tried:
        claimed.filter(pk__in=outcomes.not_tried).update(status=Digest.Status.PENDING)


def _mark_sent(message_ids: dict[int, str]) -> None:
    """Record digests (still "sending") as sent, each with its ESP message id, in one UPDATE.

    Written in SQL because the ORM can only say it with a CASE of one WHEN per digest,
    which takes Django ten times longer to compile than the database to run. UPDATE ...
    FROM (VALUES ...) is understood by PostgreSQL and by SQLite (since 3.33).
    """
    meta = Digest._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)

    # From the concrete fields (get_field may also answer a relation, which has no column).
    concrete = {field.name: field for field in meta.concrete_fields}

    def column(name: str) -> str:
        return quote(concrete[name].column)

    values = ", ".join(["(%s, %s)"] * len(message_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column('status')} = %s, {column('sent_at')} = %s, "
            f"{column('error')} = '', {column('esp_message_id')} = sent.column2 "
            f"FROM (VALUES {values}) AS sent "
            f"WHERE {table}.{column('id')} = sent.column1 AND {table}.{column('status')} = %s",
            [
                Digest.Status.SENT,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                *(value for pair in message_ids.items() for value in pair),
                Digest.Status.SENDING,
            ],
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
