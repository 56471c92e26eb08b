"""RSS and Atom feeds of each topic's newest papers, for readers who prefer feeds to email.

Titles, abstracts and author names come from listings, so from anyone who submits a paper:
they go out as text. RSS has no way to say "text": readers render an item's description (and
many its title and author) as HTML, so those are HTML-escaped there. Atom can say it: its
summary is ``type="text"``, which readers show as written (its titles and names already are).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from html import escape
from typing import Any

from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from .models import Paper, Topic
from .selectors import about_topic, visible_papers

FEED_LENGTH = 30


def _as_html_text(value: str) -> str:
    # &, < and > only: quotes are harmless outside attributes, and a reader that shows the
    # field as plain text would show "O&#x27;Brien".
    return escape(value, quote=False)


class TextAtomFeed(Atom1Feed):
    """Atom whose entry summaries are ``type="text"`` (Django writes them as ``html``)."""

    def add_item_elements(self, handler: Any, item: dict[str, Any]) -> None:
        super().add_item_elements(handler, {**item, "description": None})
        if item["description"] is not None:
            handler.addQuickElement("summary", item["description"], {"type": "text"})


class TopicFeed(Feed):
    """The newest visible papers tagged with a topic, in RSS 2.0: a listing's text is escaped
    for readers that render it as HTML (``<img onerror=...>`` shows as those characters)."""

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
        return _as_html_text(paper.title)

    def item_description(self, paper: Paper) -> str:
        return _as_html_text(paper.abstract)

    def item_link(self, paper: Paper) -> str:
        return reverse("papers:detail", args=[paper.pk])

    def item_pubdate(self, paper: Paper) -> datetime | None:
        day = paper.featured_on or paper.published_on
        return datetime.combine(day, time.min, tzinfo=UTC) if day else None

    def item_author_name(self, paper: Paper) -> str:
        return _as_html_text(paper.author_summary)


class TopicAtomFeed(TopicFeed):
    """The same entries in Atom, whose text constructs say they are text: nothing to escape."""

    feed_type = TextAtomFeed
    subtitle = TopicFeed.description

    def item_title(self, paper: Paper) -> str:
        return paper.title

    def item_description(self, paper: Paper) -> str:
        return paper.abstract

    def item_author_name(self, paper: Paper) -> str:
        return paper.author_summary
