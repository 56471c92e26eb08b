"""Retention: what a year of daily runs keeps, without breaking "never the same paper twice".

Every digest writes about 13 ``DigestItem`` rows; kept for ever, they are most of the
database. They are needed for two things: showing what a digest contained, and refusing a
paper a reader already got (the unique (subscriber, paper) constraint). The second only
matters while the paper can still be a candidate.

The rule, and what it relies on
    A paper is *retired* once every day that could make it new is older than
    ``DIGEST_ITEMS_KEEP_DAYS`` (30 by default, at least 14): the day it was first stored
    (``created_at``), the latest day a listing featured it (``featured_on``) and the day it was
    published. Today a paper is a candidate only within ``CANDIDATE_DAYS`` (3 days, 8 for
    weekly) of its featured (or published) day, and a paper "new by arrival" (issue 17) is one
    stored or featured after a reader's previous digest: either way a paper none of whose days
    is in the last 30 is not a candidate of any run for today or later. The margin (30 days
    against a window of at most 7) leaves room for a longer window, a late run or a catch-up.

    Only a retired paper's items are deleted, and a retired paper is never a candidate again
    (``window_papers`` leaves out ``RetiredPaper`` rows), so a listing that features an old
    paper again cannot send it to someone whose record of it was deleted. The cost: such a
    paper reaches nobody new either. Runs for days before the cutoff (``send_digests --date``
    long after the fact) do not see retired papers.

Digests older than ``DIGESTS_KEEP_DAYS`` (400) are compacted (their error text and claim are
cleared; period, status, attempts, sent time and ESP message id stay) or dropped, as
``DIGESTS_OLD`` says.

Every write is a batch of at most ``RETENTION_BATCH_SIZE`` rows in its own transaction: no
long lock, and an interrupted run resumes where it stopped (running twice is harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import perf_counter

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone

from papers.models import Paper
from subscriptions.models import Digest, DigestItem, RetiredPaper

logger = logging.getLogger(__name__)

# Papers whose items are deleted together: few enough that each batch's look-up by the
# paper index stays short, many enough that a night with 100 papers is a few statements.
_PAPERS_PER_PASS = 50
# Compacting looks back this far behind the cutoff, so a few nights without the task are
# caught up, and the digests compacted long ago are not read again every night.
_COMPACT_LOOKBACK_DAYS = 31


@dataclass(frozen=True)
class RetentionReport:
    """What one retention run did."""

    papers_retired: int
    items_deleted: int
    digests_compacted: int
    digests_dropped: int
    seconds: float


def items_cutoff(*, today: date) -> date:
    """Papers none of whose days is on or after this day are retired."""
    return today - timedelta(days=settings.DIGEST_ITEMS_KEEP_DAYS)


def digests_cutoff(*, today: date) -> date:
    """Digests built for a day before this one are compacted or dropped."""
    return today - timedelta(days=settings.DIGESTS_KEEP_DAYS)


def retire_old_papers(*, today: date) -> int:
    """Retire every paper that can no longer be new to anyone; return how many."""
    cutoff = items_cutoff(today=today)
    stored_before = timezone.make_aware(datetime.combine(cutoff, time.min))
    old = (
        Paper.objects.filter(created_at__lt=stored_before)
        .filter(Q(featured_on__lt=cutoff) | Q(featured_on=None))
        .filter(Q(published_on__lt=cutoff) | Q(published_on=None))
        .exclude(pk__in=RetiredPaper.objects.values("paper_id"))
        .order_by()
        .values_list("pk", flat=True)
    )
    retired = 0
    batch = settings.RETENTION_BATCH_SIZE
    while ids := list(old[:batch]):
        RetiredPaper.objects.bulk_create(
            [RetiredPaper(paper_id=pk, retired_on=today) for pk in ids], ignore_conflicts=True
        )
        retired += len(ids)
    return retired


def delete_retired_items() -> int:
    """Delete the digest items of retired papers, a batch at a time; return how many."""
    batch = settings.RETENTION_BATCH_SIZE
    deleted = 0
    waiting = RetiredPaper.objects.filter(items_deleted_at=None).order_by("paper_id")
    while papers := list(waiting.values_list("paper_id", flat=True)[:_PAPERS_PER_PASS]):
        # No ordering: the model's (by digest) would join and sort every item of the papers.
        items = DigestItem.objects.filter(paper_id__in=papers).order_by()
        while ids := list(items.values_list("pk", flat=True)[:batch]):
            with transaction.atomic():
                deleted += DigestItem.objects.filter(pk__in=ids).delete()[0]
        RetiredPaper.objects.filter(paper_id__in=papers).update(items_deleted_at=timezone.now())
    return deleted


def compact_old_digests(*, today: date) -> tuple[int, int]:
    """Compact or drop (``DIGESTS_OLD``) digests older than ``DIGESTS_KEEP_DAYS``; return
    (compacted, dropped)."""
    cutoff = digests_cutoff(today=today)
    if settings.DIGESTS_OLD == "drop":
        old = Digest.objects.filter(day__lt=cutoff)
        dropped = 0
        for ids in _id_ranges(old):
            with transaction.atomic():
                batch = old.filter(pk__range=ids)
                # Their items went with their papers' retirement long ago; any left go too.
                DigestItem.objects.filter(digest__in=batch).delete()
                dropped += batch.delete()[0]
        return 0, dropped
    window = Digest.objects.filter(
        day__lt=cutoff, day__gte=cutoff - timedelta(days=_COMPACT_LOOKBACK_DAYS)
    )
    worth_compacting = window.filter(~Q(error="") | Q(claim_token__isnull=False))
    compacted = 0
    for ids in _id_ranges(window):
        compacted += worth_compacting.filter(pk__range=ids).update(error="", claim_token=None)
    return compacted, 0


def _id_ranges(digests: QuerySet[Digest]) -> Iterator[tuple[int, int]]:
    """Ranges of at most ``RETENTION_BATCH_SIZE`` ids spanning the digests: each batch is a
    range scan of the primary key (a day's digests have neighbouring ids), and the day
    itself is found once, by the BRIN index on PostgreSQL."""
    bounds = digests.aggregate(first=Min("pk"), last=Max("pk"))
    if bounds["first"] is None:
        return
    step = settings.RETENTION_BATCH_SIZE
    for start in range(bounds["first"], bounds["last"] + 1, step):
        yield start, min(start + step - 1, bounds["last"])


def apply_retention(*, today: date | None = None) -> RetentionReport:
    """Retire old papers, delete their digest items, and compact or drop old digests.

    Keeps "never the same paper twice": only items of retired papers are deleted, and a
    retired paper is never a candidate again. Idempotent; each batch is its own transaction.
    """
    today = today or timezone.localdate()
    started = perf_counter()
    retired = retire_old_papers(today=today)
    deleted = delete_retired_items()
    compacted, dropped = compact_old_digests(today=today)
    report = RetentionReport(
        papers_retired=retired,
        items_deleted=deleted,
        digests_compacted=compacted,
        digests_dropped=dropped,
        seconds=perf_counter() - started,
    )
    logger.info("retention: %s", report)
    return report
