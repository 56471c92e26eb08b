"""Read-only queries over subscriptions and digests."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from papers.models import Paper
from papers.selectors import with_shown_tags

from .models import Digest, DigestItem, Subscriber


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
