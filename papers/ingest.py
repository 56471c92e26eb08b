"""Getting papers in: read or fetch a listing, parse it, upsert its papers in one transaction.

This module is the only place that writes papers. The ``ingest`` command and the
``ingest_source`` task both call ``ingest_location`` / ``ingest_source``; neither copies it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .embeddings import embed_papers
from .fetch import FetchError, fetch_document, listing_url
from .models import IngestRun, Paper, PaperSource, UpvoteObservation
from .sources import (
    ListingParseError,
    PaperRecord,
    SkippedEntry,
    Source,
    decode_document,
    format_named,
    normalise_title,
    parse_listing,
    source_named,
)
from .topics import tag_papers

logger = logging.getLogger(__name__)

_URL_FIELDS = ("arxiv_url", "pdf_url", "hf_url", "github_url", "project_url", "thumbnail_url")
_MAX_URL_LENGTH = 500
_MAX_ARXIV_ID_LENGTH = 32
_MAX_TITLE_KEY_LENGTH = 512


class IngestError(Exception):
    """A whole document could not be ingested; the message names the source and the problem."""


@dataclass
class IngestResult:
    """What one ingest did to the database."""

    location: str
    format: str
    listing_date: date | None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[SkippedEntry] = field(default_factory=list)
    paper_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """The one-line report operators read: ``created N, updated M, unchanged U, skipped K``."""
        return (
            f"created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, skipped {len(self.skipped)}"
        )


def ingest_location(
    *, location: str, format: str | None = None, listing_date: date | None = None
) -> IngestResult:
    """Ingest the listing at ``location``: an http(s) URL, or a path to a file.

    Raises ``IngestError`` (and changes no paper) when the document cannot be read or parsed.
    """
    run = IngestRun.objects.create(location=location[:1000], listing_date=listing_date)
    try:
        data = _read(location)
        result = ingest_document(
            data=data, location=location, format=format, listing_date=listing_date
        )
    except IngestError as error:
        run.status = IngestRun.Status.FAILED
        run.error = str(error)
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    run.status = IngestRun.Status.SUCCEEDED
    run.format = result.format
    run.listing_date = result.listing_date
    run.created, run.updated, run.unchanged = result.created, result.updated, result.unchanged
    run.skipped = [
        {"position": s.position, "reason": s.reason, "excerpt": s.excerpt} for s in result.skipped
    ]
    run.finished_at = timezone.now()
    run.save()
    return result


def ingest_source(
    *, source: str, day: date | None = None, categories: list[str] | None = None
) -> list[IngestResult]:
    """Ingest a registered source (``SOURCE_NAMES``) for a day: one list, or one per category.

    ``day`` defaults to today for a source with one list a day (Hugging Face) and to the
    latest listing for a source listed per category (arXiv's "new" page). Today's list of a
    one-list-a-day source comes with the lists of the ``TRENDING_DAYS`` days before it, read
    again to observe their upvotes as they move. Each category or day is its own document
    and transaction: one failing does not undo the others, but the failure is raised (after
    the rest were tried) so the caller sees it. An unknown source raises ``IngestError``.
    """
    try:
        chosen = source_named(source)
    except LookupError as error:
        raise IngestError(str(error)) from None
    if not chosen.per_category:
        if day is not None:
            return [
                ingest_location(location=_listing_url(source=chosen, day=day), listing_date=day)
            ]
        today = timezone.localdate()
        days = [today - timedelta(days=back) for back in range(settings.TRENDING_DAYS + 1)]
        return _ingest_each([(_listing_url(source=chosen, day=listed), listed) for listed in days])
    if not categories:
        raise IngestError(f"no {chosen.label} categories given")
    locations = []
    failures: list[str] = []
    for category in categories:
        try:
            locations.append((_listing_url(source=chosen, day=day, category=category), day))
        except IngestError as error:
            failures.append(str(error))
    return _ingest_each(locations, failures=failures)


def _ingest_each(
    locations: list[tuple[str, date | None]], *, failures: list[str] | None = None
) -> list[IngestResult]:
    """Ingest each (location, listing date) on its own; raise every failure at the end."""
    failures = list(failures or [])
    results: list[IngestResult] = []
    for location, listing_date in locations:
        try:
            results.append(ingest_location(location=location, listing_date=listing_date))
        except IngestError as error:
            failures.append(str(error))
    if failures:
        raise IngestError("; ".join(failures))
    return results


def _listing_url(*, source: Source, day: date | None, category: str = "") -> str:
    try:
        return listing_url(source=source, day=day, category=category)
    except FetchError as error:
        raise IngestError(str(error)) from None


def ingest_document(
    *,
    data: bytes,
    location: str,
    format: str | None = None,
    listing_date: date | None = None,
) -> IngestResult:
    """Parse ``data`` and upsert its papers in one transaction; return the counts.

    A paper already known (same arXiv id, else same normalised title) is updated only where
    the listing says something new; curation flags are never touched. A new upvote count is
    kept as an ``UpvoteObservation``. A bad entry is skipped and reported; a bad document
    raises ``IngestError`` naming ``location`` and leaves the database as it was.
    """
    try:
        listing = parse_listing(decode_document(data), format=format, listing_date=listing_date)
        # A listing of a format the registry does not know has no source to record: refuse
        # it rather than file its papers under a guess.
        source = format_named(listing.format).source.name
    except ListingParseError as error:
        raise IngestError(f"{location}: {error}") from None

    result = IngestResult(
        location=location,
        format=listing.format,
        listing_date=listing.listing_date,
        skipped=list(listing.skipped),
    )
    rows = _rows_from_records(listing.records, listing.listing_date, result.skipped)
    with transaction.atomic():
        _upsert(rows, source=source, result=result)
        tag_papers(paper_ids=result.paper_ids)
    result.skipped.sort(key=lambda entry: entry.position)
    logger.info("ingested %s (%s): %s", location, listing.format, result.summary())
    # After the commit: the papers are saved whatever happens to their vectors, and ranking
    # reads them lexically until they have one (``manage.py embed_papers`` catches up).
    try:
        embedded = embed_papers(paper_ids=result.paper_ids)
    except Exception:
        logger.exception("embedding the papers of %s failed; they rank lexically", location)
    else:
        if embedded:
            logger.info("embedded %d papers of %s", embedded, location)
    return result


def _read(location: str) -> bytes:
    if location.startswith(("http://", "https://")):
        try:
            return fetch_document(location)
        except FetchError as error:
            raise IngestError(str(error)) from None
    try:
        return Path(location).read_bytes()
    except OSError as error:
        raise IngestError(f"{location}: cannot read the file ({error.strerror})") from None


@dataclass
class _Row:
    position: int
    values: dict[str, Any]
    upvotes: int | None


def _rows_from_records(
    records: list[PaperRecord], listing_date: date | None, skipped: list[SkippedEntry]
) -> list[_Row]:
    """Field values per record, checked against what the database can hold; one per paper."""
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for position, record in enumerate(records, 1):
        try:
            values = _field_values(record, listing_date)
        except ValueError as error:
            skipped.append(SkippedEntry(position, str(error), record.title[:80]))
            continue
        key = values.get("arxiv_id") or values["title_key"]
        if key in seen:
            skipped.append(
                SkippedEntry(position, f"duplicate of entry {seen[key]}", record.title[:80])
            )
            continue
        seen[key] = position
        rows.append(_Row(position, values, record.upvotes))
    return rows


def _field_values(record: PaperRecord, listing_date: date | None) -> dict[str, Any]:
    """The ``Paper`` fields a record gives a value for (what it leaves out stays as it is)."""
    title_key = normalise_title(record.title)[:_MAX_TITLE_KEY_LENGTH]
    if not title_key:
        raise ValueError("entry has no title")
    if len(record.arxiv_id) > _MAX_ARXIV_ID_LENGTH:
        raise ValueError(f"arXiv id {record.arxiv_id[:40]!r} is too long")
    for count in (record.upvotes, record.comment_count, record.github_stars, record.author_count):
        if count is not None and count < 0:
            raise ValueError("a count in the entry is negative")
    values: dict[str, Any] = {"title": record.title, "title_key": title_key}
    optional: dict[str, Any] = {
        "arxiv_id": record.arxiv_id,
        "abstract": record.abstract,
        "summary": record.summary,
        "authors": list(record.authors),
        "author_count": record.author_count,
        "published_on": record.published_on,
        "featured_on": record.featured_on or listing_date,
        "comment_count": record.comment_count,
        "github_stars": record.github_stars,
        "categories": list(record.categories),
        "keywords": list(record.keywords),
    }
    for name in _URL_FIELDS:
        url = getattr(record, name)
        # A link we cannot store or that is not a web address is dropped, not the paper.
        if url.startswith(("https://", "http://")) and len(url) <= _MAX_URL_LENGTH:
            optional[name] = url
    values.update({name: value for name, value in optional.items() if value not in ("", [], None)})
    return values


def _upsert(rows: list[_Row], *, source: str, result: IngestResult) -> None:
    arxiv_ids = {row.values["arxiv_id"] for row in rows if "arxiv_id" in row.values}
    title_keys = {row.values["title_key"] for row in rows}
    by_arxiv_id: dict[str, Paper] = {}
    by_title: dict[str, Paper] = {}
    for existing in Paper.objects.filter(arxiv_id__in=arxiv_ids):
        by_arxiv_id[existing.arxiv_id] = existing
    for existing in Paper.objects.filter(title_key__in=title_keys).order_by("id"):
        by_title.setdefault(existing.title_key, existing)

    now = timezone.now()
    to_create: list[tuple[Paper, int | None]] = []
    to_update: list[Paper] = []
    changed_fields: set[str] = set()
    observations: list[UpvoteObservation] = []
    for row in rows:
        paper = _match(row.values, by_arxiv_id, by_title)
        if paper is not None and paper.pk is None:
            result.skipped.append(
                SkippedEntry(row.position, "same title as an earlier entry", paper.title[:80])
            )
            continue
        if paper is None:
            paper = Paper(**row.values, upvotes=row.upvotes or 0, arrived_at=now)
            paper.analyse()
            to_create.append((paper, row.upvotes))
            # A later row with the same title but no arXiv id is the same paper.
            by_title.setdefault(paper.title_key, paper)
            continue
        changes = _apply(paper, row.values)
        if changes & {"title", "abstract"}:
            paper.analyse()
            changes.add("terms")
        if "featured_on" in changes:
            # Featured on a later day: news again to readers whose digest was built before.
            paper.arrived_at = now
            changes.add("arrived_at")
        if row.upvotes is not None and row.upvotes != paper.upvotes:
            paper.upvotes = row.upvotes
            changes.add("upvotes")
            observations.append(
                UpvoteObservation(paper=paper, upvotes=row.upvotes, observed_at=now)
            )
        if changes:
            changed_fields |= changes
            to_update.append(paper)
            result.updated += 1
        else:
            result.unchanged += 1
        result.paper_ids.append(paper.pk)

    # PostgreSQL and SQLite (3.35+) return the new ids from a bulk insert.
    created = Paper.objects.bulk_create([paper for paper, _ in to_create])
    for paper, upvotes in zip(created, (upvotes for _, upvotes in to_create), strict=True):
        if upvotes is not None:
            observations.append(UpvoteObservation(paper=paper, upvotes=upvotes, observed_at=now))
    result.created = len(created)
    result.paper_ids.extend(paper.pk for paper in created)
    if to_update:
        Paper.objects.bulk_update(to_update, [*sorted(changed_fields), "updated_at"])
    UpvoteObservation.objects.bulk_create(observations)
    PaperSource.objects.bulk_create(
        [PaperSource(paper_id=pk, source=source) for pk in result.paper_ids],
        ignore_conflicts=True,
    )


def _match(
    values: dict[str, Any], by_arxiv_id: dict[str, Paper], by_title: dict[str, Paper]
) -> Paper | None:
    arxiv_id = values.get("arxiv_id", "")
    if arxiv_id and arxiv_id in by_arxiv_id:
        return by_arxiv_id[arxiv_id]
    paper = by_title.get(values["title_key"])
    # Same title but two different arXiv ids: two papers that happen to share a title.
    if paper is not None and arxiv_id and paper.arxiv_id and paper.arxiv_id != arxiv_id:
        return None
    return paper


def _apply(paper: Paper, values: dict[str, Any]) -> set[str]:
    """Set the fields where ``values`` says something new; return the names changed."""
    changed: set[str] = set()
    for name, value in values.items():
        if name == "featured_on" and paper.featured_on and value <= paper.featured_on:
            # Re-reading an older listing must not move a paper back in time.
            continue
        if getattr(paper, name) != value:
            setattr(paper, name, value)
            changed.add(name)
    if changed:
        paper.updated_at = timezone.now()
    return changed


def parse_day(value: str) -> date:
    """A ``YYYY-MM-DD`` date, or ``ValueError`` with a message an operator understands."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD") from None
