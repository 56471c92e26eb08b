"""RSS and Atom feeds of each topic's newest papers, for readers who prefer feeds to email."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from .models import Paper, Topic
from .selectors import about_topic, visible_papers

FEED_LENGTH = 30


class TopicFeed(Feed):
    """The newest visible papers tagged with a topic."""

    def get_object(self, request: HttpRequest, slug: str) -> Topic:
        return get_object_or_404(Topic, slug=slug)

    def title(self, topic: Topic) -> str:
        return f"Paper Digest: {topic.name}"

    def link(self, topic: Topic) -> str:
        return f"{reverse('papers:list')}?topic={topic.slug}"

    def description(self, topic: Topic) -> str:
        return topic.description or f"New papers about {topic.name}."

    def items(self, topic: Topic) -> list[Paper]:
        return list(
            about_topic(visible_papers(), topic=topic).order_by("-featured_on", "-upvotes", "id")[
                :FEED_LENGTH
            ]
        )

    def item_title(self, paper: Paper) -> str:
        return paper.title

    def item_description(self, paper: Paper) -> str:
        return paper.abstract

    def item_link(self, paper: Paper) -> str:
        return reverse("papers:detail", args=[paper.pk])

    def item_pubdate(self, paper: Paper) -> datetime | None:
        day = paper.featured_on or paper.published_on
        return datetime.combine(day, time.min, tzinfo=UTC) if day else None

    def item_author_name(self, paper: Paper) -> str:
        return paper.author_summary


class TopicAtomFeed(TopicFeed):
    feed_type = Atom1Feed
    subtitle = TopicFeed.description
