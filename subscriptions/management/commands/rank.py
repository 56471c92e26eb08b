"""``manage.py rank``: what a subscriber with these interests would get, from the papers we have."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from papers.ingest import parse_day
from subscriptions.delivery.diagnosis import no_candidates
from subscriptions.delivery.digests import candidate_set_for
from subscriptions.matching.interests import InterestsError, clean_interests, split_phrases
from subscriptions.matching.preview import preview_picks


class Command(BaseCommand):
    help = "Rank the papers in the database for the given interests and print the picks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interests",
            action="append",
            default=[],
            help="Interests as typed in the form: phrases separated by commas (repeatable).",
        )
        parser.add_argument("--topic", action="append", default=[], help="Topic slug.")
        parser.add_argument("--author", action="append", default=[], help="Author to follow.")
        parser.add_argument("--exclude", action="append", default=[], help="Never show these.")
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--since", help="Only papers featured or published since YYYY-MM-DD.")
        parser.add_argument(
            "--date",
            help="Rank as the digest of this day (YYYY-MM-DD) would: its candidate papers, "
            "popularity as of that day.",
        )
        parser.add_argument(
            "--frequency",
            choices=["daily", "weekly"],
            default="daily",
            help="With --date: whose digest (the weekly window is longer).",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON list.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        try:
            interests = clean_interests(
                topic_slugs=options["topic"],
                keywords=split_phrases(*options["interests"]),
                authors=split_phrases(*options["author"]),
                excluded=split_phrases(*options["exclude"]),
            )
        except InterestsError as error:
            messages = [msg for msgs in error.errors.values() for msg in msgs]
            raise CommandError(
                " ".join(messages) + " (use --interests, --topic or --author)"
            ) from None
        since = day = None
        try:
            if options["since"]:
                since = parse_day(options["since"])
            if options["date"]:
                day = parse_day(options["date"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        if day is not None and since is not None:
            raise CommandError("--date ranks a digest's own candidates: leave out --since")
        candidates = None
        if day is not None:
            reason = no_candidates(day=day, frequency=options["frequency"])
            if reason is not None:
                raise CommandError(f"Nothing to rank: {reason}.")
            candidates = candidate_set_for(day=day, frequency=options["frequency"])
        picks = preview_picks(
            interests=interests, since=since, limit=options["limit"], candidates=candidates
        )
        rows: list[dict[str, Any]] = [
            {
                "title": pick.title,
                "arxiv_id": pick.arxiv_id,
                "score": pick.score,
                "reasons": pick.reasons,
            }
            for pick in picks
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write(
                "No paper matches these interests"
                + (f" among the {candidates.size} candidates of {day}." if candidates else ".")
            )
        for number, row in enumerate(rows, 1):
            arxiv = f" [{row['arxiv_id']}]" if row["arxiv_id"] else ""
            self.stdout.write(f"{number:2}. {row['title']}{arxiv}  score {row['score']:.3f}")
            if row["reasons"]:
                self.stdout.write(f"    {'; '.join(row['reasons'])}")
