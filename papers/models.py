"""Papers, where they came from, how their upvotes moved, and the topics they are about."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .sources import source_choices
from .text import one_line_summary, stored_terms


class Paper(models.Model):
    """One research paper, however many listings it appeared in.

    A paper is identified by its arXiv id when known, else by its normalised title
    (``title_key``). Ingest never writes ``hidden`` or ``pinned``: those are the curators'.
    """

    arxiv_id = models.CharField("arXiv id", max_length=32, blank=True)
    title = models.TextField()
    title_key = models.CharField(max_length=512, db_index=True, editable=False)
    abstract = models.TextField(blank=True)
    summary = models.TextField(
        blank=True, help_text="A one-line summary the listing gave (Hugging Face's AI summary)."
    )
    authors = models.JSONField(default=list, blank=True, help_text="Author names, in order.")
    author_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Set when a listing gives only the number of authors."
    )
    published_on = models.DateField(null=True, blank=True)
    featured_on = models.DateField(
        null=True, blank=True, db_index=True, help_text="Latest day a daily listing featured it."
    )
    upvotes = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    arxiv_url = models.URLField("arXiv page", max_length=500, blank=True)
    pdf_url = models.URLField("PDF", max_length=500, blank=True)
    hf_url = models.URLField("Hugging Face page", max_length=500, blank=True)
    github_url = models.URLField("GitHub repository", max_length=500, blank=True)
    github_stars = models.PositiveIntegerField(null=True, blank=True)
    project_url = models.URLField("project page", max_length=500, blank=True)
    thumbnail_url = models.URLField(max_length=500, blank=True)
    categories = models.JSONField(default=list, blank=True, help_text="arXiv categories.")
    keywords = models.JSONField(default=list, blank=True, help_text="Keywords a listing gave.")
    hidden = models.BooleanField(default=False, help_text="Never shown or sent.")
    pinned = models.BooleanField(default=False, help_text="Boosted in every digest.")
    topics: models.ManyToManyField[Topic, PaperTopic] = models.ManyToManyField(
        "Topic", through="PaperTopic", related_name="papers"
    )
    terms = models.TextField(
        blank=True,
        editable=False,
        help_text="The title and abstract as ranking reads them (papers.text.stored_terms).",
    )
    # The title and abstract's sentence embedding (papers.embeddings), made once at ingest.
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_key = models.CharField(
        max_length=40,
        blank=True,
        editable=False,
        help_text="The model and text the embedding was made of (papers.embeddings).",
    )
    arrived_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
        help_text="When a listing brought the paper to us: first stored, or featured on a "
        "later day than before. A paper is new to a reader if it arrived after their last "
        "digest was built.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-featured_on", "-upvotes", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["arxiv_id"], condition=~Q(arxiv_id=""), name="paper_unique_arxiv_id"
            )
        ]
        indexes = [models.Index(fields=["published_on"], name="paper_published_on")]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or {"title", "abstract"} & set(update_fields):
            self.analyse()
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "terms"}
        super().save(*args, **kwargs)

    def analyse(self) -> None:
        """Store the title and abstract analysed (``terms``), as any write of them must:
        ``save`` does; bulk writes call this. Ranking ignores terms not of the paper's text."""
        self.terms = stored_terms(self.title, self.abstract)

    @property
    def shown_author_count(self) -> int:
        """How many authors the paper has, from the names or from the listing's count."""
        return len(self.authors) or self.author_count or 0

    @property
    def one_line(self) -> str:
        """What the paper is about in one line: the listing's summary, else the abstract's
        first sentence."""
        return one_line_summary(summary=self.summary, abstract=self.abstract)

    @property
    def author_summary(self) -> str:
        """ "Ada Lovelace, Alan Turing, Grace Hopper et al.", or "11 authors" without names."""
        if self.authors:
            shown = ", ".join(self.authors[:3])
            return f"{shown} et al." if len(self.authors) > 3 else shown
        count = self.author_count or 0
        return f"{count} author{'s' if count != 1 else ''}" if count else ""


class DayNote(models.Model):
    """The editors' note for one day: shown at the top of that day's digests and page."""

    day = models.DateField(unique=True)
    text = models.TextField(
        max_length=600, help_text="A few sentences, as plain text (no HTML, no Markdown)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"note for {self.day}"


class PaperSource(models.Model):
    """A listing source a paper has appeared in (first time seen)."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="sources")
    # A callable from the registry: adding a source needs no migration.
    source = models.CharField(max_length=16, choices=source_choices)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["paper", "source"], name="paper_source_unique")
        ]

    def __str__(self) -> str:
        return self.get_source_display()


class UpvoteObservation(models.Model):
    """An upvote count an ingest saw that differed from the last one: the trend history."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="upvote_history")
    upvotes = models.PositiveIntegerField()
    observed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["paper", "observed_at"]
        indexes = [models.Index(fields=["paper", "-observed_at"], name="upvote_obs_paper_time")]

    def __str__(self) -> str:
        return f"{self.upvotes} upvotes at {self.observed_at:%Y-%m-%d %H:%M}"


class Topic(models.Model):
    """A curated research topic papers are tagged with and subscribers follow."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    keywords = models.JSONField(
        default=list, blank=True, help_text="Phrases that mark a paper as being about the topic."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PaperTopic(models.Model):
    """A paper's tag with a topic. Tags set or removed by hand are never touched by tagging."""

    class Origin(models.TextChoices):
        AUTO = "auto", "automatic"
        ADDED = "added", "added by hand"
        REMOVED = "removed", "removed by hand"

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="topic_tags")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="paper_tags")
    score = models.FloatField(default=0.0)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.AUTO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["paper", "topic"], name="paper_topic_unique")
        ]
        indexes = [models.Index(fields=["topic", "origin"], name="paper_topic_topic_origin")]

    def __str__(self) -> str:
        return f"{self.topic} ({self.get_origin_display()}, {self.score:.2f})"


class IngestRun(models.Model):
    """One ingest of one document: what it was, and what it did or why it failed."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    location = models.CharField(max_length=1000, help_text="URL or file path read.")
    format = models.CharField(max_length=16, blank=True)
    listing_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.location} ({self.status})"


class TextEmbedding(models.Model):
    """The sentence embedding of a phrase (a reader's interest), keyed by model and text."""

    key = models.CharField(max_length=40, unique=True)
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
