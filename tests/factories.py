"""Small helpers that create rows with sensible defaults, so tests say only what matters."""

from __future__ import annotations

from datetime import date
from itertools import count
from typing import Any

from papers.models import Paper, PaperTopic, Topic
from papers.sources import normalise_title
from subscriptions.addresses import mailbox_of
from subscriptions.models import Subscriber

_numbers = count(1)


def make_paper(**fields: Any) -> Paper:
    """A saved paper; the title is unique unless given."""
    number = next(_numbers)
    fields.setdefault("title", f"A study of things, part {number}")
    fields.setdefault("abstract", "We study things.")
    fields.setdefault("featured_on", date(2025, 11, 6))
    fields["title_key"] = normalise_title(fields["title"])
    return Paper.objects.create(**fields)


def make_topic(**fields: Any) -> Topic:
    number = next(_numbers)
    fields.setdefault("name", f"Topic {number}")
    fields.setdefault("slug", f"topic-{number}")
    return Topic.objects.create(**fields)


def tag(paper: Paper, topic: Topic, *, score: float = 0.9, origin: str = "auto") -> PaperTopic:
    return PaperTopic.objects.create(paper=paper, topic=topic, score=score, origin=origin)


def make_subscriber(**fields: Any) -> Subscriber:
    number = next(_numbers)
    fields.setdefault("email", f"reader{number}@example.org")
    fields.setdefault("mailbox", mailbox_of(fields["email"]))
    fields.setdefault("status", Subscriber.Status.ACTIVE)
    topics = fields.pop("topics", [])
    subscriber = Subscriber.objects.create(**fields)
    subscriber.topics.set(topics)
    return subscriber
