"""A day's digest run: batches of subscribers, each built and sent by the same function.

The beat task hands each batch to a worker (``tasks.send_digest_batch``); the
``send_digests`` command runs the batches in-process. Both call ``process_batch``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import timezone

from subscriptions.collector import collecting_only_new_objects
from subscriptions.delivery.digests import (
    BuildResult,
    build_digest_batch,
    period_of,
    preview_digest_batch,
    subscriber_id_ranges,
)
from subscriptions.delivery.sending import Progress, SendReport, send_pending_digests
from subscriptions.models import DigestRun


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


def start_run(*, day: date, frequency: str) -> Iterator[tuple[int, int]]:
    """Record the run and yield the (first id, last id) of each batch of subscribers."""
    DigestRun.objects.get_or_create(
        period=period_of(day=day, frequency=frequency), frequency=frequency
    )
    yield from subscriber_id_ranges(frequency=frequency, size=settings.DIGESTS["BATCH_SIZE"])


def finish_run(*, day: date, frequency: str) -> None:
    """Note that every batch of the run has been handed out (or, in-process, done)."""
    DigestRun.objects.filter(
        period=period_of(day=day, frequency=frequency), frequency=frequency
    ).update(finished_at=timezone.now())


def process_batch(
    *, day: date, frequency: str, first_id: int, last_id: int, progress: Progress | None = None
) -> tuple[BuildResult, SendReport]:
    """Build, then send, the digests of one batch. Safe to run again: both steps resume."""
    with collecting_only_new_objects():
        built = build_digest_batch(day=day, frequency=frequency, first_id=first_id, last_id=last_id)
        period = period_of(day=day, frequency=frequency)
        report = send_pending_digests(
            period=period, first_id=first_id, last_id=last_id, progress=progress
        )
    return built, report


def run_in_process(*, day: date, frequency: str, progress: Progress | None = None) -> RunTotals:
    """The whole run in this process, batch after batch (the ``send_digests`` command).

    ``progress`` is told how many digests were sent or failed as each chunk is recorded.
    """
    totals = RunTotals()
    for first_id, last_id in start_run(day=day, frequency=frequency):
        totals.add(
            *process_batch(
                day=day, frequency=frequency, first_id=first_id, last_id=last_id, progress=progress
            )
        )
    finish_run(day=day, frequency=frequency)
    return totals


def preview_run(*, day: date, frequency: str) -> RunTotals:
    """What a run would build, without writing or sending anything (``--dry-run``)."""
    totals = RunTotals()
    for first_id, last_id in subscriber_id_ranges(
        frequency=frequency, size=settings.DIGESTS["BATCH_SIZE"]
    ):
        built = preview_digest_batch(
            day=day, frequency=frequency, first_id=first_id, last_id=last_id
        )
        totals.add(built, SendReport())
    return totals
