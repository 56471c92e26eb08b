"""A day's digest run: batches of subscribers, each built and sent by the same function.

The beat task hands each batch to a worker (``tasks.send_digest_batch``); the
``send_digests`` command runs the batches in-process. Both call ``process_batch``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from subscriptions.collector import collecting_only_new_objects
from subscriptions.delivery.counts import recount
from subscriptions.delivery.digests import (
    BuildResult,
    build_digest_batch,
    period_of,
    preview_digest_batch,
    subscriber_id_ranges,
)
from subscriptions.delivery.schedule import unbuilt_readers
from subscriptions.delivery.sending import Progress, SendReport, send_pending_digests
from subscriptions.models import DigestBatch, DigestRun

# A run's counts for the admin are taken again after a batch at most this often (a GROUP BY
# over the period's digests; the recovery sweep counts again every minute too).
COUNT_EVERY = timedelta(seconds=30)


@dataclass
class RunTotals:
    """Counts over a whole run, as the command prints them."""

    batches: int = 0
    built: int = 0
    empty: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retry_later: int = 0
    paused: bool = False

    def add(self, built: BuildResult, report: SendReport) -> None:
        self.batches += 1
        self.built += built.built
        self.empty += built.empty
        self.sent += report.sent
        self.skipped += report.skipped
        self.failed += report.failed
        self.retry_later += report.retry_later
        self.paused = self.paused or report.paused


def start_run(*, day: date, frequency: str, slot: str = "") -> list[tuple[int, int]]:
    """Record the run and its batches of the readers ``slot`` names (``schedule.py``: all of
    them by default); the (first id, last id) of each batch of subscribers.

    Each batch is recorded before any is queued, so one whose task is lost (the dispatcher
    died, a worker was killed) is found by the recovery sweep (``recovery.py``).
    """
    run, _ = DigestRun.objects.get_or_create(
        period=period_of(day=day, frequency=frequency), frequency=frequency
    )
    # An hourly run's slot holds only readers still without the period's digest.
    readers = unbuilt_readers(day=day, frequency=frequency, slot=slot) if slot else None
    ranges = list(
        subscriber_id_ranges(
            frequency=frequency, size=settings.DIGESTS["BATCH_SIZE"], readers=readers
        )
    )
    now = timezone.now()
    DigestBatch.objects.bulk_create(
        [
            DigestBatch(run=run, day=day, slot=slot, first_id=first, last_id=last, queued_at=now)
            for first, last in ranges
        ],
        ignore_conflicts=True,  # a rerun: those recorded already keep their progress
    )
    return ranges


def finish_run(*, day: date, frequency: str) -> None:
    """Note that every batch of the run has been handed out (or, in-process, done)."""
    period = period_of(day=day, frequency=frequency)
    DigestRun.objects.filter(period=period, frequency=frequency).update(finished_at=timezone.now())
    recount([period])


def process_batch(
    *,
    day: date,
    frequency: str,
    first_id: int,
    last_id: int,
    slot: str = "",
    progress: Progress | None = None,
) -> tuple[BuildResult, SendReport]:
    """Build, then send, the digests of one batch. Safe to run again: both steps resume.

    The batch's record says it is alive when it starts and as it sends (``Heartbeat``), and
    done at the end unless it must be retried later (then the caller says when).
    """
    period = period_of(day=day, frequency=frequency)
    batch = _batch(day=day, frequency=frequency, first_id=first_id, last_id=last_id, slot=slot)
    heartbeat = Heartbeat(batch, progress)
    heartbeat.beat()
    with collecting_only_new_objects():
        built = build_digest_batch(
            day=day, frequency=frequency, first_id=first_id, last_id=last_id, slot=slot
        )
        report = send_pending_digests(
            period=period, first_id=first_id, last_id=last_id, progress=heartbeat
        )
    if not (report.retry_later or report.paused):
        batch.update(done_at=timezone.now())
    recount([period], unless_counted_within=COUNT_EVERY)
    return built, report


class Heartbeat:
    """Tells the batch's record it is alive, at most every ``EVERY_SECONDS``, as sending
    progresses (and passes the progress on)."""

    EVERY_SECONDS = 15.0

    def __init__(self, batch: QuerySet[DigestBatch], progress: Progress | None) -> None:
        self.batch = batch
        self.progress = progress
        self.last = -math.inf
        # Several beats within a stall, however short it is set.
        self.every = min(self.EVERY_SECONDS, settings.DIGESTS["STALL_MINUTES"] * 60 / 4)

    def beat(self) -> None:
        self.batch.update(progress_at=timezone.now())
        self.last = time.monotonic()

    def __call__(self, decided: int) -> None:
        if time.monotonic() - self.last >= self.every:
            self.beat()
        if self.progress is not None:
            self.progress(decided)


def retry_batch_later(
    *, day: date, frequency: str, first_id: int, last_id: int, seconds: float, slot: str = ""
) -> None:
    """The batch will be tried again in ``seconds``: not stalled until then."""
    batch = _batch(day=day, frequency=frequency, first_id=first_id, last_id=last_id, slot=slot)
    batch.update(resume_at=timezone.now() + timedelta(seconds=seconds))


def _batch(
    *, day: date, frequency: str, first_id: int, last_id: int, slot: str
) -> QuerySet[DigestBatch]:
    """The record of the run's batch of subscribers ``first_id`` to ``last_id`` in ``slot``."""
    return DigestBatch.objects.filter(
        run__period=period_of(day=day, frequency=frequency),
        run__frequency=frequency,
        slot=slot,
        first_id=first_id,
        last_id=last_id,
    )


def run_in_process(
    *, day: date, frequency: str, slot: str = "", progress: Progress | None = None
) -> RunTotals:
    """The whole run in this process, batch after batch (the ``send_digests`` command):
    every reader of ``frequency``, or those ``slot`` names.

    ``progress`` is told how many digests were sent or failed as each chunk is recorded.
    """
    totals = RunTotals()
    for first_id, last_id in start_run(day=day, frequency=frequency, slot=slot):
        totals.add(
            *process_batch(
                day=day,
                frequency=frequency,
                first_id=first_id,
                last_id=last_id,
                slot=slot,
                progress=progress,
            )
        )
    finish_run(day=day, frequency=frequency)
    return totals


def preview_run(*, day: date, frequency: str, slot: str = "") -> RunTotals:
    """What a run would build, without writing or sending anything (``--dry-run``)."""
    totals = RunTotals()
    for first_id, last_id in subscriber_id_ranges(
        frequency=frequency, size=settings.DIGESTS["BATCH_SIZE"]
    ):
        built = preview_digest_batch(
            day=day, frequency=frequency, first_id=first_id, last_id=last_id, slot=slot
        )
        totals.add(built, SendReport())
    return totals
