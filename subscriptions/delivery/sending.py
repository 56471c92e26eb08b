"""Sending digests exactly once: claim, send through anymail, record, as the answers come.

A digest is claimed with a conditional update (pending -> sending) just before it is handed
to the send pool (``pool.py``: many in flight at once, at the shared rate of
``throttle.py``), so two workers never both send it. Claims only fill the pool's free
places, and every ``RECORD_EVERY_SECONDS`` the answers so far are recorded and the free
places claimed again, in one statement on PostgreSQL.

A worker killed mid-send therefore leaves "sending" only what it had handed to the ESP
(at most ``SEND_CONCURRENCY``); the rest of its batch stays pending, and the recovery sweep
(``recovery.py``) queues the batch again. What is left "sending" becomes "unknown" after
``STALE_CLAIM_MINUTES``; the ESP's events settle it (``settling.py``), and one no event
ever named is sent once more after ``UNKNOWN_RESEND_MINUTES``.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.mail import BadHeaderError
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from subscriptions.delivery.content import Content, digest_contents
from subscriptions.delivery.pool import Outcome, Result, SendPool, describe
from subscriptions.delivery.render import digest_email
from subscriptions.delivery.throttle import send_throttle
from subscriptions.models import Digest, DigestRun, Subscriber

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How often answers are recorded and the pool's free places claimed: a few statements each
# time, so fewer than 50 queries per 1,000 digests at any speed of the ESP.
RECORD_EVERY_SECONDS = 0.2


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
    pause_reason: str = ""


Progress = Callable[[int], None]


def send_pending_digests(
    *, period: str, first_id: int, last_id: int, progress: Progress | None = None
) -> SendReport:
    """Send this period's pending digests of subscribers with ids in [first_id, last_id].

    Permanent failures mark the digest failed; transient ones leave it pending and say when
    to try again. After ``MAX_CONSECUTIVE_FAILURES`` failures in a row the run is paused.
    ``progress`` is told how many digests were decided each time outcomes are recorded.
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
    _send(digests, contents=digest_contents(digests), report=report, progress=progress)
    return report


def send_chunk(
    digests: Sequence[Digest], *, contents: dict[int, Content] | None = None
) -> SendReport:
    """Claim, send and record these digests (with their subscribers loaded)."""
    report = SendReport()
    contents = contents if contents is not None else digest_contents(digests)
    _send(digests, contents=contents, report=report)
    return report


@dataclass
class _Outcomes:
    """Answers not yet recorded, by kind."""

    sent: dict[int, str] = field(default_factory=dict)  # digest id -> ESP message id
    failed: dict[int, str] = field(default_factory=dict)  # digest id -> error
    retry: dict[int, str] = field(default_factory=dict)  # digest id -> error
    not_tried: list[int] = field(default_factory=list)  # never handed to the ESP

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.retry) + len(self.not_tried)


def _send(
    digests: Sequence[Digest],
    *,
    contents: dict[int, Content],
    report: SendReport,
    progress: Progress | None = None,
) -> None:
    """Send the digests through one pool, claiming only what the pool can start at once.

    When 5/8 of the pool's places are free again (or every ``RECORD_EVERY_SECONDS``, or when
    nothing is in flight) the answers so far are recorded and the free places claimed, in
    one statement on PostgreSQL; the next digests are rendered while the pool is busy. So a
    digest is "sending" only while it is in the pool: a killed worker leaves at most
    ``SEND_CONCURRENCY`` in doubt, and the rest of its batch pending.
    """
    concurrency = settings.DIGESTS["SEND_CONCURRENCY"]
    period = digests[0].period if digests else ""
    answers: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
    ahead = _RenderedAhead(digests, contents, size=concurrency)
    unrecorded = _Outcomes()
    in_flight = 0
    held = False  # every sender is paused for long: claim no more, the batch retries later
    with SendPool(concurrency=concurrency, throttle=send_throttle()) as pool:
        try:
            while True:
                paused_before = report.paused
                starts = not (report.paused or held) and bool(ahead)
                # Claims of at least 5/8 of the pool (40 of 64): a statement per 40 digests.
                enough = max(1, concurrency * 5 // 8) if starts else in_flight
                for outcome in _wait(answers, expected=in_flight, enough=enough, ahead=ahead):
                    in_flight -= 1
                    held |= outcome.result is Result.HELD
                    _count(outcome, unrecorded, report)
                if report.paused and not paused_before:
                    pool.stop()
                    _once_more_after_a_dropped_connection(lambda: _pause(period, report))
                starting = [] if report.paused or held else ahead.take(concurrency - in_flight)
                if not (starting or in_flight or len(unrecorded)):
                    break
                claimed = _record_and_claim(unrecorded, [pk for pk, _, _ in starting])
                report.skipped += len(starting) - len(claimed)
                if progress is not None and len(unrecorded):
                    progress(len(unrecorded.sent) + len(unrecorded.failed))
                unrecorded = _Outcomes()
                for digest_id, email, refused in starting:
                    if digest_id not in claimed:
                        continue
                    if refused is not None:
                        _count(Outcome(digest_id, Result.FAILED, refused), unrecorded, report)
                        continue
                    pool.submit(digest_id, email).add_done_callback(
                        lambda send: answers.put(send.result())
                    )
                    in_flight += 1
        finally:
            # Also after an unexpected error here: nothing more starts, what is under way
            # is answered and recorded (what was not tried goes back to pending), so
            # nothing is left "sending" that never reached the ESP.
            pool.stop()
            while in_flight:
                _count(answers.get(), unrecorded, report)
                in_flight -= 1
            if len(unrecorded):
                _record_and_claim(unrecorded, [])


class _RenderedAhead:
    """The next digests' emails, rendered while the pool is busy (at most ``size`` ahead).

    Rendered before the claim: a template error leaves the digests pending, not "sending".
    An address no header can hold comes out refused, with why: no retry makes it sendable,
    and the others go.
    """

    def __init__(self, digests: Sequence[Digest], contents: dict[int, Content], *, size: int):
        self.upcoming = deque(digests)
        self.contents = contents
        self.size = size
        self.ready: deque[tuple[int, Any, str | None]] = deque()  # (id, email, refused)

    def __bool__(self) -> bool:
        return bool(self.ready or self.upcoming)

    def render_one(self) -> bool:
        """Render the next digest if there is room; whether one was rendered."""
        if len(self.ready) >= self.size or not self.upcoming:
            return False
        digest = self.upcoming.popleft()
        try:
            self.ready.append((digest.pk, digest_email(digest, self.contents[digest.pk]), None))
        except BadHeaderError as error:
            self.ready.append((digest.pk, None, describe(error)))
        return True

    def take(self, count: int) -> list[tuple[int, Any, str | None]]:
        """Up to ``count`` rendered digests, rendering what is missing now."""
        while len(self.ready) < count and self.render_one():
            pass
        return [self.ready.popleft() for _ in range(min(count, len(self.ready)))]


def _wait(
    answers: queue.SimpleQueue[Outcome], *, expected: int, enough: int, ahead: _RenderedAhead
) -> list[Outcome]:
    """Answers, until ``enough`` of the ``expected`` came or ``RECORD_EVERY_SECONDS``
    passed; the time spent waiting renders digests ahead."""
    got: list[Outcome] = []
    deadline = time.monotonic() + RECORD_EVERY_SECONDS
    while len(got) < min(expected, enough):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if ahead.render_one():
            got.extend(_waiting(answers))
            continue
        try:
            got.append(answers.get(timeout=remaining))
        except queue.Empty:
            break
    return got + _waiting(answers)


def _waiting(answers: queue.SimpleQueue[Outcome]) -> list[Outcome]:
    got = []
    while True:
        try:
            got.append(answers.get_nowait())
        except queue.Empty:
            return got


def _once_more_after_a_dropped_connection(write: Callable[[], T]) -> T:
    try:
        return write()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise  # the transaction is lost with the connection: the caller's to handle
        logger.warning("the database connection dropped; recording over a new one")
        connection.close()
        return write()


def _count(outcome: Outcome, outcomes: _Outcomes, report: SendReport) -> None:
    """Add one answer to those to record and to the report; the report is paused after
    ``MAX_CONSECUTIVE_FAILURES`` failures in a row. A send in doubt is left "sending"."""
    if outcome.result is Result.SENT:
        outcomes.sent[outcome.digest_id] = outcome.detail
        report.sent += 1
        report.failures_in_a_row = 0
        return
    if outcome.result is Result.NOT_TRIED:
        outcomes.not_tried.append(outcome.digest_id)
        return
    if outcome.result is Result.HELD:  # not this message's failure: not counted as one
        outcomes.not_tried.append(outcome.digest_id)
        report.retry_later += 1
        report.retry_after = max(report.retry_after or 0, outcome.retry_after or 0) or None
        return
    report.last_error = outcome.detail
    if outcome.result is Result.FAILED:
        outcomes.failed[outcome.digest_id] = outcome.detail
        report.failed += 1
    elif outcome.result is Result.RETRY:
        outcomes.retry[outcome.digest_id] = outcome.detail
        report.retry_later += 1
        report.retry_after = max(report.retry_after or 0, outcome.retry_after or 0) or None
    report.failures_in_a_row += 1
    limit = settings.DIGESTS["MAX_CONSECUTIVE_FAILURES"]
    if report.failures_in_a_row >= limit and not report.paused:
        report.paused = True
        report.pause_reason = (
            f"paused after {report.failures_in_a_row} failed sends in a row "
            f"(last: {report.last_error})"
        )


def _pause(period: str, report: SendReport) -> None:
    """Stop the run: the ESP is probably down. Clearing the reason in the admin resumes it."""
    DigestRun.objects.filter(period=period).update(paused_reason=report.pause_reason)
    logger.error("digests for %s: %s", period, report.pause_reason)


def _record_and_claim(outcomes: _Outcomes, digest_ids: list[int]) -> set[int]:
    """Record the answers, and take these digests for sending except those someone else
    took or whose subscriber left; return those taken.

    On PostgreSQL the digests sent and the claim are one statement; the rarer outcomes are
    one statement each. A connection dropped meanwhile (a failover) is opened again once and
    everything done again: each part changes only rows still in the state it expects, and
    the claim's token finds what the first try took.
    """
    token = uuid.uuid4()

    def write() -> set[int]:
        claimed = _record_sent_and_claim(outcomes.sent, digest_ids, token)
        _record_the_rest(outcomes)
        if len(claimed) == len(digest_ids):
            return claimed
        # Not all ours: taken by another worker, or the subscriber unsubscribed (or
        # bounced) since the digest was built; or a first try took them (see above).
        pending = Digest.objects.filter(pk__in=digest_ids, status=Digest.Status.PENDING)
        pending.exclude(subscriber_id__in=_active_subscribers()).update(
            status=Digest.Status.SKIPPED, error="the subscriber is no longer active"
        )
        mine = Digest.objects.filter(pk__in=digest_ids, claim_token=token)
        return set(mine.values_list("pk", flat=True))

    return _once_more_after_a_dropped_connection(write)


def _active_subscribers() -> QuerySet[Subscriber, dict[str, Any]]:
    # The subscriber's status is checked through "subscriber_id IN (...)", not a join: with
    # a join Django writes "WHERE id IN (SELECT ... JOIN ...)", which PostgreSQL does not
    # re-check when a concurrent claim commits first, and both workers would send.
    return Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).values("pk")


def _record_sent_and_claim(
    message_ids: dict[int, str], digest_ids: list[int], token: uuid.UUID
) -> set[int]:
    """Digests (still "sending") recorded as sent, each with its ESP message id, and digests
    (still pending, of active subscribers) claimed; the ids claimed.

    Written in SQL because the ORM can only say the first with a CASE of one WHEN per
    digest, which takes Django ten times longer to compile than the database to run, and
    cannot say the second with RETURNING. UPDATE ... FROM (VALUES ...) and RETURNING are
    understood by PostgreSQL and by SQLite (3.35); only PostgreSQL runs both in one
    statement (data-modifying WITH).
    """
    if not (message_ids or digest_ids):
        return set()
    meta, quote = Digest._meta, connection.ops.quote_name
    table = quote(meta.db_table)
    concrete = {field.name: field for field in meta.concrete_fields}
    status, subscriber = quote(concrete["status"].column), quote(concrete["subscriber"].column)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    parts: list[tuple[str, list[Any]]] = []
    if message_ids:
        values = ", ".join(["(%s, %s)"] * len(message_ids))
        parts.append(
            (
                f"UPDATE {table} SET {status} = %s, {quote(concrete['sent_at'].column)} = %s, "
                f"{quote(concrete['error'].column)} = '', "
                f"{quote(concrete['esp_message_id'].column)} = sent.column2 "
                f"FROM (VALUES {values}) AS sent "
                f"WHERE {table}.id = sent.column1 AND {table}.{status} IN (%s, %s)",
                [
                    Digest.Status.SENT,
                    now,
                    *(value for pair in message_ids.items() for value in pair),
                    # "unknown" too: the sweep may have given up on a slow answer
                    Digest.Status.SENDING,
                    Digest.Status.UNKNOWN,
                ],
            )
        )
    if digest_ids:
        subscribers = quote(Subscriber._meta.db_table)
        attempts = quote(concrete["attempts"].column)
        parts.append(
            (
                f"UPDATE {table} SET {status} = %s, {quote(concrete['claimed_at'].column)} = %s, "
                f"{quote(concrete['claim_token'].column)} = %s, {attempts} = {attempts} + 1 "
                f"WHERE {table}.id IN ({', '.join(['%s'] * len(digest_ids))}) "
                f"AND {table}.{status} = %s AND {table}.{subscriber} IN "
                f"(SELECT id FROM {subscribers} WHERE {status} = %s) RETURNING {table}.id",
                [
                    Digest.Status.SENDING,
                    now,
                    concrete["claim_token"].get_db_prep_value(token, connection),
                    *digest_ids,
                    Digest.Status.PENDING,
                    Subscriber.Status.ACTIVE,
                ],
            )
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(parts) == 2:
            (sent_sql, sent_params), (claim_sql, claim_params) = parts
            cursor.execute(f"WITH sent AS ({sent_sql}) {claim_sql}", [*sent_params, *claim_params])
            return {row[0] for row in cursor.fetchall()}
        claimed: set[int] = set()
        for sql, params in parts:
            cursor.execute(sql, params)
            if "RETURNING" in sql:
                claimed = {row[0] for row in cursor.fetchall()}
        return claimed


def _record_the_rest(outcomes: _Outcomes) -> None:
    """Failures for good, failures to retry, and what was never handed to the ESP."""
    claimed = Digest.objects.filter(status__in=(Digest.Status.SENDING, Digest.Status.UNKNOWN))
    for digest_id, error in outcomes.failed.items():
        logger.warning("digest %s failed for good: %s", digest_id, error)
        claimed.filter(pk=digest_id).update(status=Digest.Status.FAILED, error=error)
    for digest_id, error in outcomes.retry.items():
        claimed.filter(pk=digest_id).update(status=Digest.Status.PENDING, error=error)
    if outcomes.not_tried:
        claimed.filter(pk__in=outcomes.not_tried).update(status=Digest.Status.PENDING)


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
    return pending_ranges(digest_ids)


def pending_ranges(digest_ids: list[int]) -> list[tuple[str, int, int]]:
    """The (period, first subscriber id, last subscriber id) ranges that hold those of these
    digests now pending: what ``send_pending_batch`` tasks send."""
    ranges = (
        Digest.objects.filter(pk__in=digest_ids, status=Digest.Status.PENDING)
        .values("period")
        .annotate(first=Min("subscriber_id"), last=Max("subscriber_id"))
        .values_list("period", "first", "last")
    )
    return list(ranges)
