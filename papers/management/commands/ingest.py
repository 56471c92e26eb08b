"""``manage.py ingest``: load a listing from a file or URL, or a named source by date."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from papers.ingest import IngestError, IngestResult, ingest_location, ingest_source, parse_day
from papers.sources import FORMATS, SOURCE_NAMES


def _day(value: str) -> date:
    try:
        return parse_day(value)
    except ValueError as error:
        raise CommandError(str(error)) from None


class Command(BaseCommand):
    help = (
        "Ingest a paper listing: a file or URL (format detected, or --format), or a source "
        f"(--source {'|'.join(SOURCE_NAMES)}) for a --date or every day --since a date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("location", nargs="?", help="Path or http(s) URL of a listing.")
        parser.add_argument("--format", choices=FORMATS, help="Skip format detection.")
        parser.add_argument("--source", choices=SOURCE_NAMES, help="Build the URL for a source.")
        parser.add_argument("--date", type=_day, help="Listing day (YYYY-MM-DD).")
        parser.add_argument("--since", type=_day, help="Backfill every day from this date.")
        parser.add_argument(
            "--category",
            action="append",
            dest="categories",
            help="arXiv category (repeatable); default: the ARXIV_CATEGORIES setting.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        location, source = options["location"], options["source"]
        if bool(location) == bool(source):
            raise CommandError("give either a PATH_OR_URL or --source, not both or neither")
        if location and (options["since"] or options["categories"]):
            raise CommandError("--since and --category go with --source, not with a PATH_OR_URL")
        try:
            if location:
                result = ingest_location(
                    location=location, format=options["format"], listing_date=options["date"]
                )
                self._report(result)
            elif options["since"]:
                self._backfill(source, options["since"], options["date"], options["categories"])
            else:
                categories = options["categories"] or settings.ARXIV_CATEGORIES
                for result in ingest_source(
                    source=source, day=options["date"], categories=categories
                ):
                    self._report(result)
        except IngestError as error:
            raise CommandError(str(error)) from None

    def _backfill(
        self, source: str, since: date, until: date | None, categories: list[str] | None
    ) -> None:
        until = until or timezone.localdate()
        if since > until:
            raise CommandError(f"--since {since} is after {until}")
        days = [since + timedelta(days=offset) for offset in range((until - since).days + 1)]
        failures = []
        for day in tqdm(days, desc=f"ingesting {source}", unit="day", file=self.stderr._out):
            try:
                for result in ingest_source(
                    source=source, day=day, categories=categories or settings.ARXIV_CATEGORIES
                ):
                    self._report(result)
            except IngestError as error:
                failures.append(f"{day}: {error}")
                self.stderr.write(f"{day}: {error}")
        if failures:
            raise CommandError(f"{len(failures)} of {len(days)} days failed")

    def _report(self, result: IngestResult) -> None:
        self.stdout.write(f"{result.location}: {result.summary()}")
        for entry in result.skipped:
            excerpt = f" ({entry.excerpt})" if entry.excerpt else ""
            self.stdout.write(f"  skipped entry {entry.position}{excerpt}: {entry.reason}")
