"""``manage.py embed_papers``: store the vector of every paper that has none (a backfill)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from papers.embeddings import embed_unembedded_papers, embedder_available


class Command(BaseCommand):
    help = (
        "Embed every paper without a vector of the current model: those ingested before the "
        "semantic extra was installed, or whose embedding failed at ingest. Safe to run twice."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not embedder_available():
            raise CommandError(
                "no embedding model can be loaded (is the semantic extra installed, and "
                "SEMANTIC_RANKING on?): papers rank lexically"
            )
        made = embed_unembedded_papers()
        self.stdout.write(f"embedded {made} papers" if made else "every paper has its vector")
