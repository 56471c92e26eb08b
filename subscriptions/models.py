"""Subscribers and what they are interested in."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

from papers.models import Topic
from subscriptions.addresses import validate_address
from subscriptions.timezones import (
    DEFAULT_SEND_HOUR,
    DEFAULT_SEND_WEEKDAY,
    DEFAULT_TIME_ZONE,
    validate_time_zone,
)


def _new_key() -> str:
    return secrets.token_urlsafe(16)


class Weekday(models.IntegerChoices):
    """Days of the week as ISO numbers them (Monday = 1)."""

    MONDAY = 1, "Monday"
    TUESDAY = 2, "Tuesday"
    WEDNESDAY = 3, "Wednesday"
    THURSDAY = 4, "Thursday"
    FRIDAY = 5, "Friday"
    SATURDAY = 6, "Saturday"
    SUNDAY = 7, "Sunday"


class SubscriberQuerySet(models.QuerySet):
    def with_email(self, email: str) -> SubscriberQuerySet:
        """The subscriber with this address, whatever its case.

        Found by the unique index on lower(email); ``email__iexact`` compares upper() and
        scans the table.
        """
        return self.alias(email_lower=Lower("email")).filter(email_lower=Lower(Value(email)))

    def with_email_starting(self, prefix: str) -> SubscriberQuerySet:
        """Subscribers whose address starts with ``prefix``, whatever its case.

        On PostgreSQL the ``subscriber_email_prefix`` index (lower(email) with
        varchar_pattern_ops) answers it; a ``%x%`` search could only scan the table.
        """
        return self.alias(email_lower=Lower("email")).filter(email_lower__startswith=prefix.lower())


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
        SUPPRESSED = "suppressed", "suppressed by an editor"

    class Frequency(models.TextChoices):
        DAILY = "daily", "daily"
        WEEKLY = "weekly", "weekly"

    email = models.EmailField(max_length=254, validators=[validate_address])
    # The mailbox the address delivers to (subscriptions.addresses.mailbox_of): what the
    # sign-up limits count, so that ada+1@ and a.d.a@gmail.com are one person's inbox.
    mailbox = models.CharField(max_length=254, blank=True, editable=False, db_index=True)
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
    # When a worker took the owed confirmation to send it. Until it says it was sent, a claim
    # older than DIGEST_STALE_CLAIM_MINUTES is a dead worker's: the sweep sends it again.
    confirmation_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What the last sign-up form asked for (topics, keywords, authors, frequency), until the
    # task that answers it applies it: the request writes this one row whatever the state.
    requested_interests = models.JSONField(null=True, blank=True, editable=False)
    # Soft bounces in a row (each within SOFT_BOUNCE_WINDOW_DAYS of the last, no delivery in
    # between); SOFT_BOUNCE_LIMIT of them suppress the address (subscriptions/webhooks.py).
    soft_bounces = models.PositiveSmallIntegerField(default=0, editable=False)
    last_soft_bounce_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the digest goes out, in the reader's own time (subscriptions/delivery/schedule.py).
    send_hour = models.PositiveSmallIntegerField(
        default=DEFAULT_SEND_HOUR,
        validators=[MaxValueValidator(23)],
        help_text="Local hour (0-23) the digest is sent at.",
    )
    time_zone = models.CharField(
        max_length=64,
        default=DEFAULT_TIME_ZONE,
        validators=[validate_time_zone],
        help_text="IANA time zone of the send hour, e.g. Europe/Paris.",
    )
    send_weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices,
        default=DEFAULT_SEND_WEEKDAY,
        help_text="Weekly readers: the day of the week the digest is sent on.",
    )
    tracking = models.BooleanField(
        default=True,
        help_text="Count opens and clicks (links go through our redirect); off: direct links.",
    )

    objects = SubscriberQuerySet.as_manager()

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


class DigestRun(models.Model):
    """One sending run for a period and frequency: what it did, and whether it was paused."""

    period = models.CharField(max_length=10, help_text="YYYY-MM-DD, or YYYY-Www for weekly.")
    frequency = models.CharField(max_length=6, choices=Subscriber.Frequency.choices)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.TextField(
        blank=True,
        help_text="Why sending stopped (too many failures in a row). Clear it to resume.",
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["period", "frequency"], name="digest_run_unique")
        ]

    def __str__(self) -> str:
        return f"{self.frequency} digests for {self.period}"


class DigestBatch(models.Model):
    """One batch of a run (a range of subscriber ids) and when it last showed signs of life.

    A batch task records progress as it goes; one that made none for DIGEST_STALL_MINUTES
    (its worker was killed, and its task message waits out the broker's visibility timeout)
    is queued again by the recovery sweep, and so is one never started while its whole run
    made no progress that long (its task message was lost). Claims keep that exactly-once, also when
    the old task message comes back later.
    """

    run = models.ForeignKey(DigestRun, on_delete=models.CASCADE, related_name="batches")
    day = models.DateField(help_text="The day the run builds digests for.")
    first_id = models.PositiveBigIntegerField()
    last_id = models.PositiveBigIntegerField()
    queued_at = models.DateTimeField(help_text="Queued by the run, or again by the sweep.")
    progress_at = models.DateTimeField(
        null=True, blank=True, help_text="Last seen building or sending (empty: not started)."
    )
    # A batch told to retry later (the ESP asked us to wait) is not stalled before this.
    resume_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    requeued = models.PositiveSmallIntegerField(default=0, help_text="Times the sweep requeued it.")
    slot = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="Which readers of the range it holds (subscriptions/delivery/schedule.py): "
        "empty for all, hour:H, or at:YYYY-MM-DDTHH for those due at that UTC hour.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "slot", "first_id", "last_id"], name="digest_batch_slot_range"
            )
        ]
        indexes = [models.Index(fields=["done_at", "queued_at"], name="digest_batch_open")]

    def __str__(self) -> str:
        return f"{self.run}: subscribers {self.first_id}-{self.last_id}"


class Digest(models.Model):
    """One subscriber's email for one period. At most one per subscriber and period.

    Sending moves it pending -> sending -> sent (or failed); a worker that died after
    claiming it leaves it "sending", which a sweep turns into "unknown": the ESP may or may
    not have it, so it is never resent blindly.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        UNKNOWN = "unknown", "unknown outcome"
        SKIPPED = "skipped", "skipped"

    # No index of its own: the unique (subscriber, period) index serves lookups by subscriber.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="digests", db_index=False
    )
    period = models.CharField(max_length=10)
    day = models.DateField(help_text="The day the digest was built for.")
    frequency = models.CharField(max_length=6, choices=Subscriber.Frequency.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Which claim took it: a worker claims a chunk of digests in one update, then reads back
    # those it got when another worker took some of them first.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    # A digest in doubt ("sending" or "unknown") decided later: by an ESP event about it, or
    # put back to pending once because no event ever came (the ESP never took it).
    settled_by_event = models.BooleanField(default=False, editable=False)
    resent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "period"], name="digest_unique_period")
        ]
        indexes = [
            models.Index(fields=["period", "status"], name="digest_period_status"),
            # Only the few in doubt, for the recovery sweep: an index of every status would
            # be written for each of a day's digests, and PostgreSQL, its statistics taken
            # before the day's digests were built, would read all pending ones through it
            # for each claim of a few ids instead of using the primary key.
            models.Index(
                fields=["status", "claimed_at"],
                name="digest_in_doubt",
                condition=models.Q(status__in=["sending", "unknown"]),
            ),
            # The admin's "failed" filter, newest first: a healthy day fails a few in a
            # thousand, so the index is small, where a scan for them would read the table.
            models.Index(fields=["id"], condition=models.Q(status="failed"), name="digest_failed"),
        ]
        # On PostgreSQL a BRIN index on day (migration 0020) finds a day's digests, which
        # are neighbours in the table, for a few kilobytes where a B-tree takes 30 bytes a row.

    def __str__(self) -> str:
        return f"{self.period} digest for {self.subscriber_id} ({self.status})"


class DigestItem(models.Model):
    """A paper in a digest, with why it was picked. A paper reaches a subscriber only once."""

    class Section(models.TextChoices):
        FOR_YOU = "for_you", "For you"
        TRENDING = "trending", "Trending today"

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="items")
    # Denormalised from the digest so the database itself forbids sending a paper twice.
    # No index of its own: the unique (subscriber, paper) index serves lookups by subscriber,
    # and one index fewer makes building a day's million items cheaper.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    paper = models.ForeignKey("papers.Paper", on_delete=models.CASCADE, related_name="digest_items")
    section = models.CharField(max_length=8, choices=Section.choices)
    position = models.PositiveSmallIntegerField()
    score = models.FloatField(default=0.0)
    reasons = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["digest", "section", "position"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "paper"], name="digest_item_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_section_display()} #{self.position}"


class DigestCount(models.Model):
    """A period's digests counted by status (and how doubt was settled), kept as the run goes
    (``delivery/counts.py``), so that the admin's summary reads a row a period instead of
    grouping the whole digest table."""

    period = models.CharField(max_length=10)
    frequency = models.CharField(max_length=6, choices=Subscriber.Frequency.choices)
    counts = models.JSONField(default=dict)
    counted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "frequency"], name="digest_count_period")
        ]

    def __str__(self) -> str:
        return f"{self.frequency} digests for {self.period}: {self.counts}"


class StoppedAddress(models.Model):
    """A mailbox whose mail stopped for good (a bounce, a complaint, an editor), kept after
    its subscriber deleted their data: only a keyed hash of it, so the address is gone, yet
    the sign-up form still sends it nothing (``people/suppression.py``)."""

    key = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=12, choices=Subscriber.Status.choices, editable=False)
    stopped_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.status} mailbox {self.key[:12]}…"


class RetiredPaper(models.Model):
    """A paper that can never be a candidate again, so who got it need not be kept.

    Retention (``subscriptions/delivery/retention.py``) retires a paper once every day that
    made it new (stored, featured, published) is older than DIGEST_ITEMS_KEEP_DAYS, and only
    then deletes its digest items: a retired paper is left out of every candidate window, so
    the forgotten pairs can never let it reach a reader twice, even if a listing features it
    again.
    """

    paper = models.OneToOneField(
        "papers.Paper", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    retired_on = models.DateField()
    # Empty while its digest items are still being deleted (in batches, over several nights
    # if need be).
    items_deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"paper {self.paper_id} retired on {self.retired_on}"


class Feedback(models.Model):
    """A subscriber's "more like this" (+1) or "less like this" (-1) about a paper."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="feedback")
    paper = models.ForeignKey("papers.Paper", on_delete=models.CASCADE, related_name="+")
    signal = models.SmallIntegerField(choices=[(1, "more like this"), (-1, "less like this")])
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "paper"], name="feedback_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_signal_display()} ({self.paper_id})"


class WebhookEvent(models.Model):
    """An ESP tracking event already handled, so a replayed event is processed once."""

    event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=32)
    recipient = models.EmailField(max_length=254, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class RateLimitBucket(models.Model):
    """The recent attempts of one key under one limit, where every process counts them when
    there is no Redis (``subscriptions/people/ratelimit.py``)."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=64, help_text="A hash of the key (an IP network).")
    # Unix times of the attempts let through within the window, oldest first.
    hits = models.JSONField(default=list)
    # Raised by every write: a write that finds another's version changed starts again.
    version = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="ratelimit_bucket_once")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key[:8]}"


# Saved papers, opens and clicks live in a module of their own (this one is long enough).
from subscriptions.reader_models import DigestClick, DigestOpen, SavedPaper  # noqa: E402

__all__ = [
    "DigestClick",
    "DigestOpen",
    "SavedPaper",
]
