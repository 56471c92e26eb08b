"""Opens and clicks: what readers did with the digests they got, counted once each.

A paper's link in a digest goes through our redirect (``/r/<token>/``), which counts the
click and forwards at once; we chose that over the ESP's click tracking because the click
then names the paper and digest itself (an ESP's rewritten link names only a URL, which
several papers' links may share), works with any ESP and leaves the email's links readable.
Opens can only come from the ESP (its tracking pixel): anymail's ``opened`` events, matched
to the digest by the metadata it was sent with. A reader who turned tracking off gets
direct links and no pixel, and nothing of theirs is counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from anymail.signals import AnymailTrackingEvent, EventType
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from papers.models import Paper, Topic
from subscriptions.delivery.settling import DIGEST_ID_KEY
from subscriptions.models import Digest, DigestClick, DigestOpen
from subscriptions.people.tokens import verify_click_token

logger = logging.getLogger(__name__)


def follow_click(*, token: str, count: bool = True) -> int | None:
    """The paper a click link forwards to; None for a bad link or a paper no longer shown.
    With ``count``, the click is counted once per paper and digest, if the reader allows
    tracking."""
    ids = verify_click_token(token)
    if ids is None:
        return None
    digest_id, paper_id = ids
    if not Paper.objects.filter(pk=paper_id, hidden=False).exists():
        return None
    digest = Digest.objects.filter(pk=digest_id).select_related("subscriber").first()
    if count and digest is not None and digest.subscriber.tracking:
        # Once: a second click, or a link checker that follows it too, adds nothing.
        DigestClick.objects.bulk_create(
            [DigestClick(digest_id=digest_id, paper_id=paper_id, clicked_at=timezone.now())],
            ignore_conflicts=True,
        )
    return paper_id


def record_open(event: AnymailTrackingEvent) -> bool:
    """Count an ``opened`` event for the digest it names, the first one only; True if it
    was counted (False for other events, replays, later opens, unknown digests)."""
    if event.event_type != EventType.OPENED:
        return False
    raw = (event.metadata or {}).get(DIGEST_ID_KEY)
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return False
    if not Digest.objects.filter(pk=int(raw), subscriber__tracking=True).exists():
        return False
    try:
        with transaction.atomic():
            _, created = DigestOpen.objects.get_or_create(
                digest_id=int(raw), defaults={"opened_at": event.timestamp or timezone.now()}
            )
    except IntegrityError:  # the same open, reported twice at once
        return False
    return created


@dataclass(frozen=True)
class Engagement:
    """Digests sent, opened and clicked (at least one paper followed), and clicks."""

    label: str
    sent: int
    opened: int
    clicked: int
    clicks: int


def engagement_by_day(*, today: date, days: int = 14) -> list[Engagement]:
    """For each day of the ``days`` up to ``today`` with digests sent, newest first: digests
    sent, opened, clicked, and clicks. A range of days, which the index on ``day`` serves,
    not a grouping of every digest ever sent."""
    rows = list(
        Digest.objects.filter(
            status=Digest.Status.SENT, day__range=(today - timedelta(days=days - 1), today)
        )
        .values("day")
        .annotate(
            sent=Count("pk", distinct=True),
            clicked=Count("clicks__digest", distinct=True),
            click_count=Count("clicks", distinct=True),
        )
        .order_by("-day")
    )
    opened = dict(
        DigestOpen.objects.filter(digest__day__in=[row["day"] for row in rows])
        .values("digest__day")
        .annotate(n=Count("pk"))
        .values_list("digest__day", "n")
    )
    return [
        Engagement(
            label=row["day"].isoformat(),
            sent=row["sent"],
            opened=opened.get(row["day"], 0),
            clicked=row["clicked"],
            clicks=row["click_count"],
        )
        for row in rows
    ]


def engagement_by_topic(*, day: date) -> list[Engagement]:
    """For each topic, the digests of ``day`` sent to readers who follow it: how many were
    sent, opened and clicked, and their clicks; topics with none sent are left out."""
    sent = Q(subscribers__digests__day=day, subscribers__digests__status=Digest.Status.SENT)
    opened_ids = DigestOpen.objects.filter(digest__day=day).values("digest_id")
    rows = (
        # Filtered before annotating: the joins the counts make hold only the day's sent
        # digests (the WHERE the database can use its index for), not every digest ever.
        Topic.objects.filter(sent)
        .annotate(
            sent=Count("subscribers__digests", filter=sent, distinct=True),
            opened=Count(
                "subscribers__digests",
                filter=sent & Q(subscribers__digests__in=opened_ids),
                distinct=True,
            ),
            clicked=Count("subscribers__digests__clicks__digest", filter=sent, distinct=True),
            clicks=Count("subscribers__digests__clicks", filter=sent, distinct=True),
        )
        .filter(sent__gt=0)
        .order_by("-sent", "name")
    )
    return [Engagement(t.name, t.sent, t.opened, t.clicked, t.clicks) for t in rows]


def most_clicked_papers(*, day: date, limit: int = 10) -> list[tuple[int, str, int]]:
    """(paper id, title, clicks) of the papers most followed from ``day``'s digests."""
    rows = (
        DigestClick.objects.filter(digest__day=day)
        .values("paper_id", "paper__title")
        .annotate(n=Count("pk"))
        .order_by("-n", "paper_id")[:limit]
    )
    return [(row["paper_id"], row["paper__title"], row["n"]) for row in rows]
