"""Tagging papers with topics, by the topics' key phrases found in titles and abstracts.

A phrase in the title counts three times as much as one in the abstract, longer phrases
count more than single words, and the total is squashed into a 0-1 score; a paper is tagged
when the score passes ``TOPIC_TAG_THRESHOLD``. Tags set or removed by hand are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from .models import Paper, PaperTopic, Topic
from .text import content_ngrams, phrase_key

_TITLE_WEIGHT = 3.0
_ABSTRACT_CAP = 3
_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class TopicPhrases:
    """A topic and the stemmed phrases that mark a paper as being about it."""

    topic_id: int
    phrases: tuple[tuple[str, ...], ...]


def topic_phrases(topics: Iterable[Topic]) -> list[TopicPhrases]:
    """Each topic's name and keywords as stemmed phrases, ready for ``score_topics``."""
    compiled = []
    for topic in topics:
        keys = {phrase_key(phrase) for phrase in [topic.name, *topic.keywords]}
        keys.discard(())
        compiled.append(TopicPhrases(topic.pk, tuple(sorted(keys))))
    return compiled


def score_topics(*, title: str, abstract: str, topics: list[TopicPhrases]) -> dict[int, float]:
    """Topic id -> score in (0, 1) for every topic with at least one phrase in the text."""
    title_counts = content_ngrams(title)
    abstract_counts = content_ngrams(abstract)
    scores: dict[int, float] = {}
    for topic in topics:
        raw = 0.0
        for phrase in topic.phrases:
            hits = _TITLE_WEIGHT * title_counts.get(phrase, 0) + min(
                abstract_counts.get(phrase, 0), _ABSTRACT_CAP
            )
            raw += hits * math.sqrt(len(phrase))
        if raw:
            scores[topic.topic_id] = 1.0 - math.exp(-raw / 4.0)
    return scores


def tag_papers(*, paper_ids: Iterable[int]) -> int:
    """Recompute the automatic topic tags of the given papers; return how many tags now exist.

    Only automatic tags are replaced: a tag an admin added or removed stays as it is.
    """
    topics = topic_phrases(Topic.objects.all())
    threshold = settings.TOPIC_TAG_THRESHOLD
    total = 0
    for batch in _batches(paper_ids):
        manual = {
            (paper_id, topic_id)
            for paper_id, topic_id in PaperTopic.objects.filter(paper_id__in=batch)
            .exclude(origin=PaperTopic.Origin.AUTO)
            .values_list("paper_id", "topic_id")
        }
        tags: list[PaperTopic] = []
        for paper_id, title, abstract in Paper.objects.filter(pk__in=batch).values_list(
            "pk", "title", "abstract"
        ):
            scores = score_topics(title=title, abstract=abstract, topics=topics)
            tags.extend(
                PaperTopic(paper_id=paper_id, topic_id=topic_id, score=round(score, 4))
                for topic_id, score in scores.items()
                if score >= threshold and (paper_id, topic_id) not in manual
            )
        with transaction.atomic():
            PaperTopic.objects.filter(paper_id__in=batch, origin=PaperTopic.Origin.AUTO).delete()
            PaperTopic.objects.bulk_create(tags)
        total += len(tags)
    return total


def retag_all_papers() -> int:
    """Recompute the automatic tags of every paper, a batch at a time (after topics change)."""
    return tag_papers(paper_ids=Paper.objects.order_by("pk").values_list("pk", flat=True))


def _batches(ids: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for paper_id in ids:
        batch.append(paper_id)
        if len(batch) == _BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch
