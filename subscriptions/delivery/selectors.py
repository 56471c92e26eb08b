"""Read-only queries over subscriptions and digests."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Prefetch, QuerySet

from papers.models import Paper
from papers.selectors import with_shown_tags
from subscriptions.models import Digest, DigestItem, Subscriber


def in_id_range(subscriber_ids: Sequence[int]) -> dict[str, int]:
    """A filter on the range of subscriber ids these span. A batch is a range of ids: the
    database scans an index range instead of probing a thousand ids (a hundred times faster
    on PostgreSQL). Rows of others in the range are the caller's to ignore."""
    return {
        "subscriber_id__gte": min(subscriber_ids, default=0),
        "subscriber_id__lte": max(subscriber_ids, default=-1),
    }


def followed_topic_names(subscriber_ids: Sequence[int]) -> dict[int, list[str]]:
    """The names of the topics each subscriber follows, by name, as plain values."""
    names: dict[int, list[str]] = {}
    rows = (
        Subscriber.topics.through.objects.filter(**in_id_range(subscriber_ids))
        .order_by("topic__name")
        .values_list("subscriber_id", "topic__name")
    )
    for subscriber_id, name in rows:
        names.setdefault(subscriber_id, []).append(name)
    return names


def digests_with_content() -> QuerySet[Digest]:
    """Digests with their subscriber (and topics), items and papers (with topic tags) loaded
    in bulk: a few queries however many digests."""
    items = DigestItem.objects.order_by("section", "position").prefetch_related(
        Prefetch("paper", queryset=with_shown_tags(Paper.objects.all()))
    )
    return Digest.objects.select_related("subscriber").prefetch_related(
        "subscriber__topics", Prefetch("items", queryset=items)
    )


def digest_for_view(*, subscriber: Subscriber, digest_id: int) -> Digest | None:
    """One of the subscriber's digests, ready to render, or None."""
    return digests_with_content().filter(pk=digest_id, subscriber=subscriber).first()
