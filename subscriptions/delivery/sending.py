"""Sending digests exactly once: claim, send through anymail, record; a chunk at a time.

A chunk of a batch's digests is claimed with one conditional update (pending -> sending)
just before it is sent, so two workers never both send a digest; its emails go to the send
pool (``pool.py``: many in flight at once, at the shared rate of ``throttle.py``), and the
chunk's outcomes are recorded with a few updates when its last send is answered. The next
chunk is claimed while this one is in flight, so the pool never waits for a claim.

A worker killed mid-chunk leaves its open chunks "sending": any of them may have reached
the ESP, so ``mark_stale_claims_unknown`` later marks them "unknown" and they are not
resent. The rest of its batch stays pending for the rerun. ``SEND_CHUNK_SIZE`` trades the
number of digests a killed worker leaves unknown against queries per chunk.
"""

from __future__ import annotations

import logging
import queue
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import BadHeaderError
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F, Max, Min
from django.utils import timezone

from subscriptions.delivery.content import Content, digest_contents
from subscriptions.delivery.pool import Outcome, Result, SendPool, describe
from subscriptions.delivery.render import digest_email
from subscriptions.delivery.throttle import send_throttle
from subscriptions.models import Digest, DigestRun, Subscriber

logger = logging.getLogger(__name__)


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
    ``progress`` is told how many digests were decided each time a chunk is recorded.
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
    size = settings.DIGESTS["SEND_CHUNK_SIZE"]
    chunks = [digests[start : start + size] for start in range(0, len(digests), size)]
    _send_chunks(chunks, contents=digest_contents(digests), report=report, progress=progress)
    return report


def send_chunk(
    digests: Sequence[Digest], *, contents: dict[int, Content] | None = None
) -> SendReport:
    """Claim, send and record these digests (with their subscribers loaded) as one chunk."""
    report = SendReport()
    contents = contents if contents is not None else digest_contents(digests)
    _send_chunks([digests], contents=contents, report=report)
    return report


@dataclass
class _Chunk:
    """A claimed chunk on its way: its sends, in the order they were handed to the pool."""

    period: str
    sends: list[Future[Outcome]] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # digest id -> why it cannot go
    unanswered: int = 0
    outcomes: _Outcomes | None = None  # once counted


def _send_chunks(
    chunks: Iterable[Sequence[Digest]],
    *,
    contents: dict[int, Content],
    report: SendReport,
    progress: Progress | None = None,
) -> None:
    """Send chunk after chunk through one pool, keeping it fed: the next chunk is claimed
    while fewer than ``SEND_CONCURRENCY`` sends are waiting, and each chunk is recorded as
    soon as all its sends are answered, in order."""
    concurrency = settings.DIGESTS["SEND_CONCURRENCY"]
    answered: queue.SimpleQueue[_Chunk] = queue.SimpleQueue()
    upcoming = iter(chunks)
    open_chunks: deque[_Chunk] = deque()
    waiting = 0  # sends handed to the pool and not yet answered
    with SendPool(concurrency=concurrency, throttle=send_throttle()) as pool:
        try:
            while True:
                while not report.paused and waiting < concurrency:
                    digests = next(upcoming, None)
                    if digests is None:
                        break
                    chunk = _start(digests, contents=contents, pool=pool, report=report)
                    for send in chunk.sends:
                        send.add_done_callback(partial(_answered, answered, chunk))
                    waiting += chunk.unanswered
                    open_chunks.append(chunk)
                if not open_chunks:
                    break
                if waiting:
                    answered.get().unanswered -= 1
                    waiting -= 1
                while open_chunks and not open_chunks[0].unanswered:
                    decided = _finish(open_chunks[0], pool=pool, report=report)
                    open_chunks.popleft()
                    if progress is not None:
                        progress(decided)
        finally:
            # Also after an unexpected error here: nothing more starts, what is under way
            # is answered, and every open chunk is recorded (what was not tried goes back
            # to pending), so nothing is left "sending" that never reached the ESP.
            pool.stop()
            while waiting:
                answered.get().unanswered -= 1
                waiting -= 1
            while open_chunks:
                _finish(open_chunks[0], pool=pool, report=report)
                open_chunks.popleft()


def _answered(answers: queue.SimpleQueue[_Chunk], chunk: _Chunk, _: Future[Outcome]) -> None:
    answers.put(chunk)  # from the sending thread: the main loop counts it


def _start(
    digests: Sequence[Digest], *, contents: dict[int, Content], pool: SendPool, report: SendReport
) -> _Chunk:
    """Render, claim and hand to the pool one chunk of digests."""
    chunk = _Chunk(period=digests[0].period if digests else "")
    # Rendered before the claim: a template error leaves the digests pending, not "sending".
    emails = {}
    for digest in digests:
        try:
            emails[digest.pk] = digest_email(digest, contents[digest.pk])
        except BadHeaderError as error:
            # An address no header can hold: no retry makes it sendable, and the others go.
            chunk.refused[digest.pk] = describe(error)
    claimed = _claim([*emails, *chunk.refused])
    report.skipped += len(emails) + len(chunk.refused) - len(claimed)
    chunk.refused = {pk: error for pk, error in chunk.refused.items() if pk in claimed}
    chunk.sends = [pool.submit(pk, email) for pk, email in emails.items() if pk in claimed]
    chunk.unanswered = len(chunk.sends)
    return chunk


@dataclass
class _Outcomes:
    """What happened to each claimed digest of a chunk, until it is recorded."""

    sent: dict[int, str] = field(default_factory=dict)  # digest id -> ESP message id
    failed: dict[int, str] = field(default_factory=dict)  # digest id -> error
    retry: dict[int, str] = field(default_factory=dict)  # digest id -> error
    not_tried: list[int] = field(default_factory=list)  # never handed to the ESP


def _finish(chunk: _Chunk, *, pool: SendPool, report: SendReport) -> int:
    """Count a chunk's answers (pausing the run after too many failures in a row), then
    record them; return how many were sent or failed for good. A send in doubt is left
    "sending", to become "unknown".

    A database connection dropped meanwhile (a failover) is opened again once: what the
    ESP took must be recorded as sent, and what was not tried put back to pending.
    """
    if chunk.outcomes is None:
        paused_before = report.paused
        chunk.outcomes = _count(chunk, report)
        if report.paused and not paused_before:
            pool.stop()
            _once_more_after_a_dropped_connection(lambda: _pause(chunk.period, report))
    outcomes = chunk.outcomes
    _once_more_after_a_dropped_connection(lambda: _record(outcomes))
    return len(outcomes.sent) + len(outcomes.failed)


def _once_more_after_a_dropped_connection(write: Callable[[], None]) -> None:
    try:
        write()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise  # the transaction is lost with the connection: the caller's to handle
        logger.warning("the database connection dropped; recording over a new one")
        connection.close()
        write()


def _count(chunk: _Chunk, report: SendReport) -> _Outcomes:
    """A chunk's answers by kind, added to the report; the report is paused after
    ``MAX_CONSECUTIVE_FAILURES`` failures in a row."""
    outcomes = _Outcomes()
    for digest_id, error in chunk.refused.items():
        report.last_error = outcomes.failed[digest_id] = error
        report.failed += 1
    for send in chunk.sends:
        outcome = send.result()
        if outcome.result is Result.SENT:
            outcomes.sent[outcome.digest_id] = outcome.detail
            report.sent += 1
            report.failures_in_a_row = 0
            continue
        if outcome.result is Result.NOT_TRIED:
            outcomes.not_tried.append(outcome.digest_id)
            continue
        if outcome.result is Result.HELD:  # not this message's failure: not counted as one
            outcomes.not_tried.append(outcome.digest_id)
            report.retry_later += 1
            report.retry_after = max(report.retry_after or 0, outcome.retry_after or 0) or None
            continue
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
    return outcomes


def _pause(period: str, report: SendReport) -> None:
    """Stop the run: the ESP is probably down. Clearing the reason in the admin resumes it."""
    DigestRun.objects.filter(period=period).update(paused_reason=report.pause_reason)
    logger.error("digests for %s: %s", period, report.pause_reason)


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
