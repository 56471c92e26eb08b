"""Issue 17, item 2: the digest's "Trending" section is what rises, not what is biggest."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine

from papers.models import Paper, UpvoteObservation
from subscriptions.delivery.digests import build_digest_batch
from subscriptions.models import Digest
from tests.beat import utc
from tests.factories import make_paper, make_subscriber

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)
NOW = utc(2025, 11, 6, 7, 0)


def observe(paper: Paper, *counts: tuple[int, int]) -> None:
    """Observations of ``paper``: (hours before ``NOW``, upvotes); the last is its count."""
    for hours_before, upvotes in counts:
        UpvoteObservation.objects.create(
            paper=paper, upvotes=upvotes, observed_at=NOW - timedelta(hours=hours_before)
        )
    Paper.objects.filter(pk=paper.pk).update(upvotes=counts[-1][1])


def trending_of(digest: Digest) -> list[tuple[str, list[str]]]:
    items = digest.items.filter(section="trending").order_by("position")
    return [(item.paper.title, item.reasons) for item in items]


@pytest.fixture
def papers_of_the_day():
    make_paper(title="Graph neural networks for molecules", featured_on=DAY)
    steady = make_paper(title="A steady paper on compilers", featured_on=DAY)
    rising = make_paper(title="A rising paper on databases", featured_on=DAY)
    first_seen = make_paper(title="A paper on bridges, new", featured_on=DAY)
    observe(steady, (30, 100), (3, 100))
    observe(rising, (30, 5), (3, 60))
    observe(first_seen, (2, 300))  # one observation: a total, not growth
    return steady, rising, first_seen


def test_a_rising_paper_outranks_a_steady_one_in_trending(papers_of_the_day):
    reader = make_subscriber(keywords=["graph neural networks"])
    with time_machine.travel(NOW, tick=False):
        build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    trending = trending_of(Digest.objects.get(subscriber=reader))
    assert [title for title, _ in trending] == [
        "A rising paper on databases",
        "A paper on bridges, new",
        "A steady paper on compilers",
    ]
    reasons = dict(trending)
    assert reasons["A rising paper on databases"] == ["60 upvotes, +55 in 24 h"]
    assert reasons["A paper on bridges, new"] == ["300 upvotes"]
    assert reasons["A steady paper on compilers"] == ["100 upvotes"]


def test_a_digest_of_a_past_day_measures_growth_up_to_that_day(papers_of_the_day):
    reader = make_subscriber(keywords=["graph neural networks"])
    steady = Paper.objects.get(title="A steady paper on compilers")
    UpvoteObservation.objects.create(paper=steady, upvotes=400, observed_at=utc(2025, 11, 9))
    with time_machine.travel(utc(2025, 11, 12, 9, 0), tick=False):
        build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    trending = [t for t, _ in trending_of(Digest.objects.get(subscriber=reader))]
    # As of the 6th the rising paper rose; what the steady one gained on the 9th is not seen.
    assert trending[0] == "A rising paper on databases"
