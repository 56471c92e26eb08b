"""Subscribers and what they are interested in."""

from __future__ import annotations

from django.db import models

from papers.models import Topic


class Subscriber(models.Model):
    """A person who gets (or asked to get) the digest, with their interests.

    The address is stored normalised (trimmed, domain lower-cased) so one person is one row.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending confirmation"
        ACTIVE = "active", "active"
        PAUSED = "paused", "paused"
        UNSUBSCRIBED = "unsubscribed", "unsubscribed"
        BOUNCED = "bounced", "bounced"
        COMPLAINED = "complained", "complained"

    class Frequency(models.TextChoices):
        DAILY = "daily", "daily"
        WEEKLY = "weekly", "weekly"

    email = models.EmailField(max_length=254, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    frequency = models.CharField(max_length=6, choices=Frequency.choices, default=Frequency.DAILY)
    topics = models.ManyToManyField(Topic, blank=True, related_name="subscribers")
    keywords = models.JSONField(default=list, blank=True, help_text="Words or phrases to match.")
    authors = models.JSONField(default=list, blank=True, help_text="Author names to follow.")
    excluded_keywords = models.JSONField(
        default=list, blank=True, help_text="Papers mentioning any of these are never shown."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "frequency", "id"], name="subscriber_sending")]

    def __str__(self) -> str:
        return self.email
