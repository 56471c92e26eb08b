"""Subscribers and what they are interested in."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models.functions import Lower

from papers.models import Topic


def _new_key() -> str:
    return secrets.token_urlsafe(16)


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

    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    frequency = models.CharField(max_length=6, choices=Frequency.choices, default=Frequency.DAILY)
    topics = models.ManyToManyField(Topic, blank=True, related_name="subscribers")
    keywords = models.JSONField(default=list, blank=True, help_text="Words or phrases to match.")
    authors = models.JSONField(default=list, blank=True, help_text="Author names to follow.")
    excluded_keywords = models.JSONField(
        default=list, blank=True, help_text="Papers mentioning any of these are never shown."
    )
    # Part of every link that manages the subscription; a new key revokes the old links.
    manage_key = models.CharField(max_length=32, default=_new_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The confirmation email is owed while requested_at is later than sent_at (or sent_at is
    # empty): a sweeper sends what a lost task message did not.
    confirmation_requested_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="subscriber_unique_email_ci"),
        ]
        indexes = [
            models.Index(fields=["status", "frequency", "id"], name="subscriber_sending"),
            models.Index(fields=["confirmation_requested_at"], name="subscriber_confirmation_owed"),
        ]

    def __str__(self) -> str:
        return self.email
