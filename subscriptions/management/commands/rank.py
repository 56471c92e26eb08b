"""``manage.py rank``: what a subscriber with these interests would get, from the papers we have."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from papers.ingest import parse_day
from papers.models import Paper
from subscriptions.matching.interests import InterestsError, clean_interests
from subscriptions.matching.ranking import (
    candidate_papers,
    rank_papers_for,
    topic_profiles,
    vectorise_candidates,
)


class Command(BaseCommand):
    help = "Rank the papers in the database for the given interests and print the picks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interests", action="append", default=[], help="Keyword or phrase (repeatable)."
        )
        parser.add_argument("--topic", action="append", default=[], help="Topic slug.")
        parser.add_argument("--author", action="append", default=[], help="Author to follow.")
        parser.add_argument("--exclude", action="append", default=[], help="Never show these.")
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--since", help="Only papers featured or published since YYYY-MM-DD.")
        parser.add_argument("--json", action="store_true", help="Print a JSON list.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        try:
            interests = clean_interests(
                topic_slugs=options["topic"],
                keywords=options["interests"],
                authors=options["author"],
                excluded=options["exclude"],
            )
        except InterestsError as error:
            messages = [msg for msgs in error.errors.values() for msg in msgs]
            raise CommandError(
                " ".join(messages) + " (use --interests, --topic or --author)"
            ) from None
        papers = Paper.objects.all()
        if options["since"]:
            try:
                since = parse_day(options["since"])
            except ValueError as error:
                raise CommandError(str(error)) from None
            papers = papers.filter(featured_on__gte=since) | papers.filter(published_on__gte=since)
        candidates = vectorise_candidates(
            papers=candidate_papers(papers=papers),
            topics=topic_profiles(),
            today=timezone.localdate(),
        )
        [picks] = rank_papers_for(
            subscribers=[interests], candidates=candidates, limit=options["limit"]
        )
        titles = dict(
            Paper.objects.filter(pk__in=[p.paper_id for p in picks]).values_list("pk", "title")
        )
        arxiv_ids = dict(Paper.objects.filter(pk__in=titles).values_list("pk", "arxiv_id"))
        rows = [
            {
                "title": titles[pick.paper_id],
                "arxiv_id": arxiv_ids[pick.paper_id] or None,
                "score": pick.score,
                "reasons": [str(reason) for reason in pick.reasons],
            }
            for pick in picks
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write("No paper matches these interests.")
        for number, row in enumerate(rows, 1):
            arxiv = f" [{row['arxiv_id']}]" if row["arxiv_id"] else ""
            self.stdout.write(f"{number:2}. {row['title']}{arxiv}  score {row['score']:.3f}")
            if row["reasons"]:
                self.stdout.write(f"    {'; '.join(row['reasons'])}")
