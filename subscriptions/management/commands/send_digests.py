"""``manage.py send_digests``: build and send a day's digests here and now."""

from __future__ import annotations

import time
from datetime import date
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from papers.ingest import parse_day
from subscriptions.delivery.diagnosis import why_nothing_built
from subscriptions.delivery.runs import preview_run, run_in_process
from subscriptions.delivery.schedule import hour_slot


class Command(BaseCommand):
    help = (
        "Build and send the digests of a day to every reader, whatever their hour (or those "
        "whose local hour is --hour): the same code the hourly beat task runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="The day (YYYY-MM-DD); default today.")
        parser.add_argument("--frequency", choices=["daily", "weekly"], default="daily")
        parser.add_argument(
            "--hour",
            type=int,
            choices=range(24),
            metavar="H",
            help="Only readers whose local send hour is H (0-23).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be built; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = parse_day(options["date"]) if options["date"] else timezone.localdate()
        except ValueError as error:
            raise CommandError(str(error)) from None
        frequency = options["frequency"]
        slot = hour_slot(options["hour"]) if options["hour"] is not None else ""
        if options["dry_run"]:
            totals = preview_run(day=day, frequency=frequency, slot=slot)
            self.stdout.write(
                f"dry run, {frequency} {day}: would build {totals.built}, "
                f"skip {totals.empty} with nothing new"
                + (
                    self._why_nothing(day, frequency, slot, totals.empty)
                    if not totals.built
                    else ""
                )
            )
            return
        with self._progress(frequency) as bar:
            totals = run_in_process(day=day, frequency=frequency, slot=slot, progress=bar.update)
        self.stdout.write(
            f"{frequency} digests for {day}: built {totals.built}, sent {totals.sent}, "
            f"skipped {totals.empty + totals.skipped}, failed {totals.failed}"
            + (f", to retry {totals.retry_later}" if totals.retry_later else "")
            + (self._why_nothing(day, frequency, slot, totals.empty) if not totals.built else "")
        )
        if totals.paused:
            self.stderr.write(
                "Sending is paused after too many failures: see the digest run in the admin."
            )

    def _why_nothing(self, day: date, frequency: str, slot: str, empty: int) -> str:
        return f" ({why_nothing_built(day=day, frequency=frequency, slot=slot, empty=empty)})"

    def _progress(self, frequency: str) -> tqdm | _LoggedProgress:
        """Digests decided so far and the live rate: a bar on a terminal, a line every half
        minute elsewhere (a log). How many there will be is known only once each is built."""
        stream = cast(TextIO, self.stderr._out)  # the raw stream: tqdm writes its own endings
        if not stream.isatty():
            return _LoggedProgress(stream, f"sending {frequency} digests")
        return tqdm(desc=f"sending {frequency} digests", unit=" digests", file=stream)


class _LoggedProgress:
    """A progress line every ``interval`` seconds, for output that is not a terminal."""

    def __init__(self, stream: TextIO, label: str, interval: float = 30.0) -> None:
        self._stream, self._label, self._interval = stream, label, interval
        self._start = self._last = time.monotonic()
        self._done = 0

    def __enter__(self) -> _LoggedProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def update(self, count: int) -> None:
        self._done += count
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            rate = self._done / max(now - self._start, 1e-9)
            self._stream.write(f"{self._label}: {self._done} so far, {rate:.0f}/s\n")
            self._stream.flush()
