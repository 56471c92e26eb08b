"""Save for later: a signed link per paper (GET asks, POST saves once), the reading list
from the preferences page, and its BibTeX and CSV exports."""

import csv
import io
import re
from datetime import date

import bibtexparser
import pytest
from bs4 import BeautifulSoup
from django.test import Client

from papers.ingest import ingest_location
from papers.models import Paper, Topic
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import SavedPaper
from subscriptions.people import library
from tests.conftest import FIXTURES
from tests.factories import make_paper, make_subscriber
from tests.subscriptions.helpers import html_part, link_in, only_email_to

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


@pytest.fixture
def ada(default_topics):
    ingest_location(location=str(FIXTURES / "hf-daily-papers.json"))
    return make_subscriber(
        email="ada@example.org", topics=[Topic.objects.get(slug="model-merging")]
    )


@pytest.fixture
def digest_email(ada):
    run_in_process(day=DAY, frequency="daily")
    return only_email_to("ada@example.org")


def save_links(email):
    return re.findall(r"https?://[^/\s]+(/save/\S+)", email.body)


def test_a_save_link_asks_on_get_and_saves_once_on_post(client, ada, digest_email):
    links = save_links(digest_email)
    assert links and all("?paper=" in link for link in links)
    assert len(re.findall(r">Save</a>", html_part(digest_email))) == len(links)
    paper = Paper.objects.get(pk=int(links[0].split("paper=")[1]))

    page = client.get(links[0])
    assert page.status_code == 200 and "Save to my reading list" in page.content.decode()
    assert not SavedPaper.objects.exists()  # a mail scanner following the link saves nothing

    for _ in range(2):
        response = client.post(links[0])
        assert response.status_code == 200 and "Saved for later" in response.content.decode()
    [saved] = SavedPaper.objects.all()
    assert (saved.subscriber, saved.paper) == (ada, paper)


def test_a_save_link_with_a_tampered_token_or_paper_saves_nothing(client, digest_email):
    link = save_links(digest_email)[0]
    path, query = link.split("?")
    assert client.post(path[:-3] + "xx/?" + query).status_code == 404
    assert client.post(path + "?paper=999999").status_code == 404
    feedback = link_in(digest_email, "/feedback/").split("?")[0]
    unsubscribe = link_in(digest_email, "/unsubscribe/")
    assert (
        client.post(unsubscribe.replace("/unsubscribe/", "/save/") + "?" + query).status_code == 404
    )
    assert client.post(feedback.replace("/feedback/", "/save/") + "?" + query).status_code == 200
    assert SavedPaper.objects.count() == 1  # the feedback token is the save token


def test_the_reading_list_is_linked_from_preferences_and_removes_on_post(client, ada, digest_email):
    for link in save_links(digest_email)[:2]:
        client.post(link)
    preferences = link_in(digest_email, "/preferences/")
    page = client.get(preferences).content.decode()
    [reading] = re.findall(r'href="(/preferences/[^"]+/reading-list/)"', page)
    listed = client.get(reading).content.decode()
    saved = [entry.paper for entry in library.reading_list(subscriber=ada)]
    assert len(saved) == 2 and all(paper.title in listed for paper in saved)

    assert client.get(reading, {"paper": saved[0].pk}).status_code == 200
    assert SavedPaper.objects.count() == 2  # a GET removes nothing
    client.post(reading, {"paper": saved[0].pk})
    assert [entry.paper for entry in library.reading_list(subscriber=ada)] == [saved[1]]
    assert client.post(reading, {"paper": "²"}).status_code == 302  # nothing to remove


def test_the_bibtex_export_parses_with_a_real_parser(client, ada, digest_email):
    odd = make_paper(
        title="Braces {and} 100% & $math$ #1_a: a {study",
        authors=["Ada Lovelace", "Grace Hopper"],
        arxiv_id="2511.99999",
        published_on=date(2025, 11, 5),
    )
    no_arxiv = make_paper(title="A paper with no arXiv id", authors=[])
    for paper in (Paper.objects.get(arxiv_id="2511.03104"), odd, no_arxiv):
        library.save_paper(subscriber=ada, paper_id=paper.pk)
    reading = link_in(digest_email, "/preferences/").split("?")[0] + "reading-list.bib"
    response = client.get(reading)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-bibtex")

    parsed = bibtexparser.parse_string(response.content.decode())
    assert parsed.failed_blocks == []
    entries = {entry.key: entry for entry in parsed.entries}
    assert set(entries) == {"arxiv:2511.03104", "arxiv:2511.99999", f"paper:{no_arxiv.pk}"}
    odd_entry = entries["arxiv:2511.99999"]
    assert odd_entry.entry_type == "misc"
    assert odd_entry["author"] == "Ada Lovelace and Grace Hopper"
    assert odd_entry["eprint"] == "2511.99999" and odd_entry["year"] == "2025"
    assert odd_entry["title"] == r"Braces \{and\} 100\% \& \$math\$ \#1\_a: a \{study"
    merging = entries["arxiv:2511.03104"]
    assert merging["title"].startswith("FW-Merging") and merging["archivePrefix"] == "arXiv"


def test_the_csv_export_lists_the_arxiv_ids(client, ada, digest_email):
    with_id = Paper.objects.get(arxiv_id="2511.03104")
    formula = make_paper(title="=HYPERLINK(1)", arxiv_id="2511.88888")
    library.save_paper(subscriber=ada, paper_id=with_id.pk)
    library.save_paper(subscriber=ada, paper_id=formula.pk)
    library.save_paper(subscriber=ada, paper_id=make_paper(title="No id").pk)
    reading = link_in(digest_email, "/preferences/").split("?")[0] + "reading-list.csv"
    rows = list(csv.reader(io.StringIO(client.get(reading).content.decode())))
    assert rows[0] == ["arxiv_id", "title"]
    assert sorted(row[0] for row in rows[1:]) == ["2511.03104", "2511.88888"]
    assert ["2511.88888", "'=HYPERLINK(1)"] in rows
    assert client.get(reading.replace(".csv", ".exe")).status_code == 404


def test_an_expired_preferences_link_shows_no_reading_list(client, settings, digest_email):
    reading = link_in(digest_email, "/preferences/").split("?")[0] + "reading-list/"
    settings.PREFERENCES_LINK_MAX_AGE_DAYS = -1
    page = client.get(reading)
    assert page.status_code == 410 and "This link has expired" in page.content.decode()


def test_a_reader_who_came_from_their_email_can_save_from_the_site(client, ada, digest_email):
    paper = Paper.objects.get(arxiv_id="2511.03104")
    anonymous = Client()
    assert "Save for later" not in anonymous.get(f"/papers/{paper.pk}/").content.decode()

    client.get(link_in(digest_email, "/digest/view/"))  # the "view in browser" link, say
    page = BeautifulSoup(client.get(f"/papers/{paper.pk}/").content, "html.parser")
    [form] = [f for f in page("form") if "/save/" in f.get("action", "")]
    assert form["action"].endswith(f"?paper={paper.pk}") and form["method"] == "post"
    assert client.get(form["action"]).status_code == 200  # asking saves nothing
    assert not SavedPaper.objects.filter(paper=paper).exists()
    client.post(form["action"])
    assert SavedPaper.objects.filter(subscriber=ada, paper=paper).count() == 1
    home = BeautifulSoup(client.get("/?day=2025-11-06").content, "html.parser")
    assert any("/save/" in f.get("action", "") for f in home("form"))
    # Someone else on the site is offered nothing.
    assert "/save/" not in anonymous.get("/?day=2025-11-06").content.decode()
