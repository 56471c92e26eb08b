"""Demo subscribers for a local ``make run``, so ``var/outbox/`` shows real digests."""

from __future__ import annotations

from django.utils import timezone

from papers.models import Topic
from subscriptions.addresses import mailbox_of
from subscriptions.models import Subscriber

DEMO_SUBSCRIBERS = [
    ("ada@example.org", ["face-analysis", "multimodal-vision-language"], ["face recognition"]),
    ("grace@example.org", ["model-merging", "recommender-systems"], ["LoRA"]),
]


def ensure_demo_subscribers() -> list[Subscriber]:
    """The demo subscribers, confirmed, created once (running it again changes nothing)."""
    people = []
    for email, slugs, keywords in DEMO_SUBSCRIBERS:
        subscriber, created = Subscriber.objects.get_or_create(
            email=email,
            defaults={
                "mailbox": mailbox_of(email),
                "status": Subscriber.Status.ACTIVE,
                "confirmed_at": timezone.now(),
                "keywords": keywords,
            },
        )
        if created:
            subscriber.topics.set(Topic.objects.filter(slug__in=slugs))
        people.append(subscriber)
    return people
