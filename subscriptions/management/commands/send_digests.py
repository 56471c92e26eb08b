"""``manage.py send_digests``: build and send a day's digests here and now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from papers.ingest import parse_day
from subscriptions.delivery.runs import preview_run, run_in_process


class Command(BaseCommand):
    help = "Build and send the digests of a day (the same code the daily beat task runs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="The day (YYYY-MM-DD); default today.")
        parser.add_argument("--frequency", choices=["daily", "weekly"], default="daily")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be built; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = parse_day(options["date"]) if options["date"] else timezone.localdate()
        except ValueError as error:
            raise CommandError(str(error)) from None
        frequency = options["frequency"]
        if options["dry_run"]:
            totals = preview_run(day=day, frequency=frequency)
            self.stdout.write(
                f"dry run, {frequency} {day}: would build {totals.built}, "
                f"skip {totals.empty} with nothing new"
            )
            return
        totals = run_in_process(day=day, frequency=frequency)
        self.stdout.write(
            f"{frequency} digests for {day}: built {totals.built}, sent {totals.sent}, "
            f"skipped {totals.empty + totals.skipped}, failed {totals.failed}"
            + (f", to retry {totals.retry_later}" if totals.retry_later else "")
        )
        if totals.paused:
            self.stderr.write(
                "Sending is paused after too many failures: see the digest run in the admin."
            )
