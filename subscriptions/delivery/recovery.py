"""Recovery that needs nobody awake: the sweep beat runs every minute (``tasks.recover_sending``).

A worker can die anywhere (an OOM kill, a forced deploy). What it leaves, and what the
sweep does about it:

- its batch's task message waits out the broker's visibility timeout (an hour on Redis)
  before it is delivered again. A batch of a run that showed no progress for
  ``STALL_MINUTES`` is queued again now; the claims keep that exactly-once, also when the
  old message comes back later.
- the digests it had handed to the ESP stay "sending": after ``STALE_CLAIM_MINUTES`` they
  are "unknown". The ESP's events settle most of them (``settling.py``); one still undecided
  ``UNKNOWN_RESEND_MINUTES`` after its claim was never taken by the ESP, and is put back to
  pending once (never twice). With ``UNKNOWN_RESEND_MINUTES`` = 0 (an ESP that sends no
  events) nothing is resent.
- a confirmation it had claimed and not sent is owed again (``people/signup.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from subscriptions.delivery.sending import mark_stale_claims_unknown, pending_ranges
from subscriptions.models import Digest, DigestBatch

logger = logging.getLogger(__name__)

# Batches of runs started longer ago are left alone: a digest a day late is worse than none.
RECOVER_RUNS_FOR = timedelta(hours=20)


@dataclass
class Recovery:
    """What one sweep found: the batches and the ranges of digests to queue again."""

    marked_unknown: int = 0
    # (day, frequency, first id, last id, slot) of each batch to queue again
    batches: list[tuple[date, str, int, int, str]] = field(default_factory=list)
    resent: int = 0
    resend_ranges: list[tuple[str, int, int]] = field(default_factory=list)


def recover(*, now: datetime | None = None) -> Recovery:
    """Find what dead workers left; the caller queues the work (``tasks.recover_sending``)."""
    now = now or timezone.now()
    recovery = Recovery(marked_unknown=mark_stale_claims_unknown())
    recovery.batches = stalled_batches(now=now)
    recovery.resent, recovery.resend_ranges = put_back_what_the_esp_never_took(now=now)
    if recovery.batches or recovery.resent or recovery.marked_unknown:
        logger.warning(
            "recovery: %s stalled batches queued again, %s digests marked unknown, "
            "%s in doubt with no ESP event put back to send once more",
            len(recovery.batches),
            recovery.marked_unknown,
            recovery.resent,
        )
    return recovery


def stalled_batches(*, now: datetime) -> list[tuple[date, str, int, int, str]]:
    """Recent batches of unpaused runs that are not done (nor waiting to retry) and either
    started and then showed no progress for ``STALL_MINUTES``, or were never started while
    their whole run showed none that long (a batch merely waiting its turn in the queue
    behind the others is not stalled). Each is taken (queued again now) so that the next
    sweep leaves it for another ``STALL_MINUTES``."""
    cutoff = now - timedelta(minutes=settings.DIGESTS["STALL_MINUTES"])
    moving = DigestBatch.objects.filter(progress_at__gte=cutoff).values("run_id")
    stalled = (
        DigestBatch.objects.filter(
            done_at__isnull=True,
            queued_at__lt=cutoff,
            # Per batch: an hourly run's batches are recorded over a day and more.
            created_at__gte=now - RECOVER_RUNS_FOR,
            run__paused_reason="",
        )
        .filter(Q(resume_at__isnull=True) | Q(resume_at__lt=cutoff))
        .filter(Q(progress_at__lt=cutoff) | (Q(progress_at__isnull=True) & ~Q(run_id__in=moving)))
        .select_related("run")
        .order_by("pk")
    )
    taken = []
    for batch in stalled:
        # Conditional: of two sweeps at once, one takes it.
        took = DigestBatch.objects.filter(pk=batch.pk, queued_at=batch.queued_at).update(
            queued_at=now, progress_at=None, requeued=F("requeued") + 1
        )
        if took:
            taken.append(
                (batch.day, batch.run.frequency, batch.first_id, batch.last_id, batch.slot)
            )
    return taken


def put_back_what_the_esp_never_took(*, now: datetime) -> tuple[int, list[tuple[str, int, int]]]:
    """Digests in doubt ``UNKNOWN_RESEND_MINUTES`` after their claim that no ESP event
    named go back to pending, once; how many, and the (period, first, last) ranges to send.
    """
    minutes = settings.DIGESTS["UNKNOWN_RESEND_MINUTES"]
    if not minutes:
        return 0, []
    never_taken = Digest.objects.filter(
        status=Digest.Status.UNKNOWN,
        claimed_at__lt=now - timedelta(minutes=minutes),
        claimed_at__gte=now - RECOVER_RUNS_FOR,
        resent_at__isnull=True,
        settled_by_event=False,
    )
    ids = list(never_taken.values_list("pk", flat=True)[:10_000])
    if not ids:
        return 0, []
    put_back = Digest.objects.filter(pk__in=ids, status=Digest.Status.UNKNOWN).update(
        status=Digest.Status.PENDING,
        resent_at=now,
        error="no ESP event came for it: sent once more",
    )
    return put_back, pending_ranges(ids)
