"""What a digest shows of each paper: its thumbnail, one line about it, then why it was picked."""

from datetime import date

import pytest
from bs4 import BeautifulSoup
from django.core import mail

from papers.ingest import ingest_location
from papers.models import Paper, Topic
from papers.text import first_sentence, one_line_summary
from subscriptions.delivery.runs import run_in_process
from tests.conftest import FIXTURES
from tests.factories import make_subscriber
from tests.subscriptions.helpers import html_part

DAY = date(2025, 11, 6)
FW_SUMMARY = (
    "Frank-Wolfe Merging treats model merging as constrained optimization and scales to many "
    "heterogeneous checkpoints with constant memory."
)


def test_the_first_sentence_stops_at_the_first_full_stop_not_at_an_abbreviation():
    text = "Recent work (e.g., identity, style) fails at scale. We fix it."
    assert first_sentence(text) == "Recent work (e.g., identity, style) fails at scale."
    assert first_sentence("Attention is O(n^2). 3.5 times faster.") == "Attention is O(n^2)."
    assert first_sentence("") == ""
    long = "word " * 80
    assert len(first_sentence(long)) <= 241 and first_sentence(long).endswith("…")


def test_the_listings_summary_comes_before_the_abstracts_first_sentence():
    assert one_line_summary(summary="It merges.", abstract="Long. Text.") == "It merges."
    assert one_line_summary(summary="  ", abstract="Long. Text.") == "Long."


@pytest.fixture
def hf_listing(default_topics):
    ingest_location(location=str(FIXTURES / "hf-daily-papers.json"))


@pytest.mark.django_db
def test_ingest_stores_hugging_faces_ai_summary(hf_listing):
    merging = Paper.objects.get(arxiv_id="2511.03104")
    assert merging.summary == FW_SUMMARY and merging.one_line == FW_SUMMARY
    dream = Paper.objects.get(arxiv_id="2511.03329")
    assert dream.summary == ""
    assert dream.one_line == first_sentence(dream.abstract)
    assert "e.g." in dream.one_line and dream.one_line.endswith(".")


@pytest.mark.django_db
def test_each_pick_shows_its_thumbnail_then_its_summary_then_its_reasons(hf_listing):
    merging = Topic.objects.get(slug="model-merging")
    make_subscriber(email="ada@example.org", topics=[merging])
    run_in_process(day=DAY, frequency="daily")
    [email] = mail.outbox
    soup = BeautifulSoup(html_part(email), "html.parser")
    paper = Paper.objects.get(arxiv_id="2511.03104")
    [image] = soup.find_all("img", src=paper.thumbnail_url)
    assert image["width"] == "120" and image["height"] == "63"
    assert image["alt"]  # a client that blocks images says what is missing
    card = image.find_parent("table")
    text = card.get_text(" ", strip=True)
    assert text.index(paper.title) < text.index(FW_SUMMARY) < text.index("Because:")
    assert paper.abstract[:60] not in text  # the abstract stays on the paper's page
    # The text part has the summary and the reasons, and no picture.
    assert FW_SUMMARY in email.body
    assert email.body.index(FW_SUMMARY) < email.body.index("Why:")
    assert "cdn-thumbnails" not in email.body


@pytest.mark.django_db
def test_the_site_shows_each_papers_thumbnail_and_summary(client, hf_listing):
    html = client.get("/?day=2025-11-06").content.decode()
    soup = BeautifulSoup(html, "html.parser")
    paper = Paper.objects.get(arxiv_id="2511.03104")
    [image] = soup.find_all("img", src=paper.thumbnail_url)
    assert image["width"] and image["height"] and image["alt"]
    assert FW_SUMMARY in soup.get_text()
    detail = client.get(f"/papers/{paper.pk}/").content.decode()
    assert paper.abstract[:60] in detail


@pytest.mark.django_db
def test_the_editors_note_leads_every_digest_of_its_day(hf_listing):
    from papers.models import DayNote

    DayNote.objects.create(day=DAY, text="Model merging week: <three> papers & more.")
    merging = Topic.objects.get(slug="model-merging")
    for email in ("ada@example.org", "grace@example.org"):
        make_subscriber(email=email, topics=[merging])
    run_in_process(day=DAY, frequency="daily")
    assert len(mail.outbox) == 2
    for email in mail.outbox:
        soup = BeautifulSoup(html_part(email), "html.parser")
        text = soup.get_text(" ", strip=True)
        assert "From the editors: Model merging week: <three> papers & more." in text
        assert text.index("From the editors") < text.index("For you")
        assert "From the editors: Model merging week: <three> papers & more." in email.body
    assert "&lt;three&gt;" in html_part(mail.outbox[0])  # escaped, as text


@pytest.mark.django_db
def test_a_note_written_between_batches_shows_from_the_next_digest(hf_listing):
    from papers.models import DayNote

    merging = Topic.objects.get(slug="model-merging")
    make_subscriber(email="ada@example.org", topics=[merging])
    run_in_process(day=DAY, frequency="daily")
    DayNote.objects.create(day=DAY, text="Late news.")
    make_subscriber(email="grace@example.org", topics=[merging])
    run_in_process(day=DAY, frequency="daily")
    first, second = mail.outbox
    assert "Late news." not in first.body and "Late news." in second.body


@pytest.mark.django_db
def test_thumbnails_summaries_and_notes_are_rendered_per_run_not_per_reader(
    hf_listing, monkeypatch
):
    """More readers cost no more template renders: the new parts are in the fragments."""
    from papers.models import DayNote
    from subscriptions.delivery import stencils
    from subscriptions.delivery.caches import forget_day
    from subscriptions.models import Digest

    DayNote.objects.create(day=DAY, text="A note.")
    merging = Topic.objects.get(slug="model-merging")
    renders = []
    real = stencils.render_to_string

    def counting(*args, **kwargs):
        renders.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(stencils, "render_to_string", counting)
    counts = []
    for readers in (2, 8):
        Digest.objects.all().delete()
        mail.outbox.clear()
        forget_day()
        renders.clear()
        for n in range(readers):
            make_subscriber(email=f"reader{readers}-{n}@example.org", topics=[merging])
        run_in_process(day=DAY, frequency="daily")
        assert len(mail.outbox) >= readers
        assert all("A note." in email.body for email in mail.outbox)
        counts.append(len(renders))
    assert counts[0] == counts[1] > 0
