"""Issue 17, item 2: growth is what upvote observations showed, and older lists are re-read."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import time_machine

from papers.ingest import ingest_location, ingest_source
from papers.models import Paper, UpvoteObservation
from papers.selectors import papers_featured_on, with_growth
from tests.beat import utc
from tests.conftest import FIXTURES, fixture_text
from tests.factories import make_paper

pytestmark = pytest.mark.django_db

HF_JSON = FIXTURES / "hf-daily-papers.json"
DAY = date(2025, 11, 6)
NOW = utc(2025, 11, 6, 20, 0)


def growth_of(**filters) -> dict[str, int]:
    papers = with_growth(Paper.objects.filter(**filters))
    return {paper.arxiv_id or paper.title: paper.growth for paper in papers}


def observe(paper: Paper, *counts: tuple[int, int]) -> None:
    """Observations of ``paper``: (hours before ``NOW``, upvotes)."""
    for hours_before, upvotes in counts:
        UpvoteObservation.objects.create(
            paper=paper,
            upvotes=upvotes,
            observed_at=NOW - timedelta(hours=hours_before),
        )
    paper.upvotes = counts[-1][1]
    paper.save(update_fields=["upvotes"])


def test_a_first_observation_gives_no_growth():
    with time_machine.travel(utc(2025, 11, 6, 6, 15), tick=False):
        ingest_location(location=str(HF_JSON))
        growth = growth_of()
    assert Paper.objects.get(arxiv_id="2511.03104").upvotes == 87
    assert set(growth.values()) == {0}


def test_growth_is_the_gain_observed_within_the_window():
    data = json.loads(fixture_text("hf-daily-papers.json"))
    with time_machine.travel(utc(2025, 11, 6, 6, 15), tick=False):
        ingest_location(location=str(HF_JSON))
    data[0]["paper"]["upvotes"] = 120  # FW-Merging, 87 at 06:15
    with time_machine.travel(utc(2025, 11, 6, 18, 15), tick=False):
        from papers.ingest import ingest_document

        ingest_document(data=json.dumps(data).encode(), location="hf.json")
        assert growth_of(arxiv_id="2511.03104") == {"2511.03104": 33}
    with time_machine.travel(utc(2025, 11, 7, 19, 0), tick=False):
        # More than 24 h after the first count, 1 h after the second: nothing gained since.
        assert growth_of(arxiv_id="2511.03104") == {"2511.03104": 0}
        # ...but over the week it gained 33; and as of the 6th's end, as much.
        week = with_growth(Paper.objects.filter(arxiv_id="2511.03104"), hours=7 * 24)
        assert week.get().growth == 33


def test_rising_papers_come_first_on_the_home_page_and_top_orders_by_total(client):
    steady = make_paper(title="A steady paper", featured_on=DAY)
    rising = make_paper(title="A rising paper", featured_on=DAY)
    observe(steady, (30, 100), (10, 100))
    observe(rising, (30, 5), (10, 60))
    with time_machine.travel(NOW, tick=False):
        trending = [p.title for p in papers_featured_on(day=DAY)]
        top = [p.title for p in papers_featured_on(day=DAY, order="top")]
        html = client.get("/").content.decode()
        top_html = client.get("/?order=top").content.decode()
    assert trending == ["A rising paper", "A steady paper"]
    assert top == ["A steady paper", "A rising paper"]
    assert html.index("A rising paper") < html.index("A steady paper")
    assert "+55 in 24 h" in html
    assert top_html.index("A steady paper") < top_html.index("A rising paper")
    assert client.get("/?order=sideways").status_code == 404


def test_this_week_orders_the_weeks_papers_by_what_they_gained_in_it(client):
    older = make_paper(title="Monday's riser", featured_on=DAY - timedelta(days=3))
    today = make_paper(title="Today's steady paper", featured_on=DAY)
    observe(older, (100, 2), (20, 90))
    observe(today, (30, 80), (20, 80))
    with time_machine.travel(NOW, tick=False):
        week = [p.title for p in papers_featured_on(day=DAY, order="week")]
        html = client.get("/?order=week").content.decode()
    assert week == ["Monday's riser", "Today's steady paper"]
    assert "+88 this week" in html


class DailyLists:
    """The real Daily Papers document for any day asked, its upvotes raised by ``bump``."""

    def __init__(self, bump: int) -> None:
        self.bump = bump
        self.asked: list[str] = []

    def __call__(self, url: str, **_: object) -> bytes:
        self.asked.append(url.rsplit("=", 1)[-1])
        day = date.fromisoformat(self.asked[-1])
        items = json.loads(fixture_text("hf-daily-papers.json"))
        if day != date(2025, 11, 3):
            return b"[]"
        for item in items:
            paper = item["paper"]
            paper["submittedOnDailyAt"] = "2025-11-03T05:00:00.000Z"
            paper["upvotes"] = (paper.get("upvotes") or 0) + self.bump
        return json.dumps(items).encode()


def test_each_ingest_of_today_reads_the_last_7_days_again_and_records_what_moved(monkeypatch):
    lists = DailyLists(bump=0)
    monkeypatch.setattr("papers.ingest.fetch_document", lists)
    with time_machine.travel(utc(2025, 11, 3, 6, 15), tick=False):
        ingest_source(source="hf")
    lists.bump = 25
    with time_machine.travel(utc(2025, 11, 7, 12, 15), tick=False):
        ingest_source(source="hf")
    # Today and the 7 days before it, today first.
    assert lists.asked[-8:] == [
        (date(2025, 11, 7) - timedelta(days=n)).isoformat() for n in range(8)
    ]
    paper = Paper.objects.get(arxiv_id="2511.03104")
    assert paper.featured_on == date(2025, 11, 3)
    assert list(paper.upvote_history.values_list("upvotes", "observed_at")) == [
        (87, utc(2025, 11, 3, 6, 15)),
        (112, utc(2025, 11, 7, 12, 15)),  # observed today, on its list of four days ago
    ]
    with time_machine.travel(utc(2025, 11, 7, 13, 0), tick=False):
        assert growth_of(arxiv_id="2511.03104") == {"2511.03104": 25}
