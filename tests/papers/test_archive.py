"""The site links what it has: the archive of past days, the topic feeds, an editors' note,
and a page for a day with no papers that speaks to visitors, not to operators."""

from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup

from papers.models import DayNote, Topic
from papers.views import ARCHIVE_DAYS_PER_PAGE
from tests.factories import make_paper, tag

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


def soup_of(response):
    return BeautifulSoup(response.content.decode(), "html.parser")


def test_the_archive_lists_past_days_newest_first_and_pages(client):
    days = [DAY - timedelta(days=n) for n in range(ARCHIVE_DAYS_PER_PAGE + 5)]
    for day in days:
        make_paper(featured_on=day)
    make_paper(featured_on=DAY, title="Second paper of the day")
    make_paper(featured_on=DAY - timedelta(days=400), hidden=True)  # a hidden day is no day
    first = soup_of(client.get("/digest/"))
    links = [a["href"] for a in first.select("ol.archive a")]
    assert links == [f"/digest/{day:%Y-%m-%d}/" for day in days[:ARCHIVE_DAYS_PER_PAGE]]
    assert "2 papers" in first.select_one("ol.archive li").get_text()
    second = soup_of(client.get("/digest/", {"page": 2}))
    links = [a["href"] for a in second.select("ol.archive a")]
    assert links == [f"/digest/{day:%Y-%m-%d}/" for day in days[ARCHIVE_DAYS_PER_PAGE:]]
    assert second.find("a", rel="prev")["href"] == "?page=1"


def test_the_home_page_and_each_day_page_link_the_archive(client):
    make_paper(featured_on=DAY)
    for path in ("/", f"/digest/{DAY:%Y-%m-%d}/"):
        hrefs = [a["href"] for a in soup_of(client.get(path))("a")]
        assert "/digest/" in hrefs, path


def test_topic_pages_announce_and_show_their_feeds(client, default_topics):
    merging = Topic.objects.get(slug="model-merging")
    tag(make_paper(featured_on=DAY), merging)
    page = soup_of(client.get("/", {"topic": "model-merging"}))
    alternates = {link["type"]: link["href"] for link in page.find_all("link", rel="alternate")}
    assert alternates == {
        "application/rss+xml": "/topics/model-merging/rss/",
        "application/atom+xml": "/topics/model-merging/atom/",
    }
    visible = [a["href"] for a in page.select("p.feeds a")]
    assert visible == ["/topics/model-merging/rss/", "/topics/model-merging/atom/"]
    assert client.get(visible[0]).status_code == 200
    assert not soup_of(client.get("/")).find_all("link", rel="alternate")  # no topic, no feed


def test_a_day_without_papers_says_so_to_visitors(client):
    make_paper(featured_on=DAY)
    response = client.get("/digest/2025-11-09/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "No papers for this day yet" in html
    assert "manage.py" not in html and "ingest" not in html
    assert soup_of(response).find("a", rel="prev")["href"] == f"/digest/{DAY:%Y-%m-%d}/"
    empty_home = client.get("/?day=2025-11-09").content.decode()
    assert "manage.py" not in empty_home


def test_the_home_page_with_no_papers_shows_no_operator_instructions(client):
    html = client.get("/").content.decode()
    assert "No papers yet" in html
    assert "manage.py" not in html and "ingest" not in html


def test_the_editors_note_shows_on_its_days_page(client):
    make_paper(featured_on=DAY)
    make_paper(featured_on=DAY - timedelta(days=1))
    DayNote.objects.create(day=DAY, text="Big day for <model merging>.")
    page = soup_of(client.get(f"/digest/{DAY:%Y-%m-%d}/"))
    assert "Big day for <model merging>." in page.select_one(".editors-note").get_text()
    other = soup_of(client.get(f"/digest/{DAY - timedelta(days=1):%Y-%m-%d}/"))
    assert other.select_one(".editors-note") is None


def test_an_editor_writes_the_days_note_in_the_admin(admin_client, client):
    make_paper(featured_on=DAY)
    response = admin_client.post(
        "/admin/papers/daynote/add/", {"day": "2025-11-06", "text": "Welcome, readers."}
    )
    assert response.status_code == 302
    assert DayNote.objects.get(day=DAY).text == "Welcome, readers."
    assert "Welcome, readers." in client.get(f"/digest/{DAY:%Y-%m-%d}/").content.decode()
