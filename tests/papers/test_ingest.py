from datetime import date

import pytest
from django.db.models import Count

from papers.ingest import IngestError, ingest_document, ingest_location, ingest_source
from papers.models import IngestRun, Paper, PaperSource, UpvoteObservation
from papers.sources import LISTING_FORMATS, LISTING_SOURCES, PaperRecord, ParsedListing
from papers.text import stored_terms
from tests.conftest import FIXTURE_OF_FORMAT, FIXTURES, SEED_LISTING, fixture_bytes
from tests.factories import make_paper

pytestmark = pytest.mark.django_db

HF_JSON = FIXTURES / "hf-daily-papers.json"


def snapshot():
    """Everything an ingest could change, to compare before and after."""
    return (
        list(Paper.objects.order_by("pk").values()),
        list(UpvoteObservation.objects.order_by("pk").values()),
        list(PaperSource.objects.order_by("pk").values()),
    )


def test_it_creates_the_82_seed_papers():
    result = ingest_location(location=str(SEED_LISTING))
    assert result.summary() == "created 82, updated 0, unchanged 0, skipped 0"
    assert Paper.objects.count() == 82
    paper = Paper.objects.get(title__startswith="SE-MoE")
    assert paper.author_count == 11
    assert paper.published_on == date(2022, 5, 20)
    assert paper.featured_on == date(2025, 11, 6)
    assert list(paper.sources.values_list("source", flat=True)) == ["hf"]


def test_it_changes_nothing_when_the_same_listing_comes_again():
    ingest_location(location=str(SEED_LISTING))
    before = snapshot()
    result = ingest_location(location=str(SEED_LISTING))
    assert result.summary() == "created 0, updated 0, unchanged 82, skipped 0"
    assert snapshot() == before


def test_it_records_upvote_history_only_when_the_count_moves():
    ingest_location(location=str(HF_JSON))
    paper = Paper.objects.get(arxiv_id="2511.03104")
    assert paper.upvotes == 87
    assert list(paper.upvote_history.values_list("upvotes", flat=True)) == [87]

    moved = HF_JSON.read_bytes().replace(b'"upvotes": 87', b'"upvotes": 120')
    result = ingest_document(data=moved, location="later.json")
    assert result.updated == 1
    paper.refresh_from_db()
    assert paper.upvotes == 120
    assert list(paper.upvote_history.values_list("upvotes", flat=True)) == [87, 120]

    ingest_document(data=moved, location="again.json")
    assert paper.upvote_history.count() == 2


def test_it_merges_a_paper_seen_in_two_listings_by_title():
    ingest_location(location=str(SEED_LISTING))
    ingest_location(location=str(HF_JSON))
    merged = Paper.objects.filter(title_key__startswith="fw merging")
    assert merged.count() == 1
    paper = merged.get()
    # The HF listing brought the arXiv id, links and upvotes; the seed's author count stays.
    assert paper.arxiv_id == "2511.03104"
    assert paper.arxiv_url == "https://arxiv.org/abs/2511.03104"
    assert paper.github_url == "https://github.com/hmarkc/FW-Merging"
    assert paper.upvotes == 87
    assert sorted(paper.sources.values_list("source", flat=True)) == ["hf"]
    assert not Paper.objects.values("title_key").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_it_matches_by_arxiv_id_before_title():
    make_paper(title="An old working title", arxiv_id="2511.03104")
    result = ingest_location(location=str(HF_JSON))
    paper = Paper.objects.get(arxiv_id="2511.03104")
    assert paper.title == "FW-Merging: Scaling Model Merging with Frank-Wolfe Optimization"
    assert result.updated == 1


def test_every_paper_it_writes_is_stored_with_its_text_analysed():
    make_paper(title="An old working title", arxiv_id="2511.03104")
    ingest_location(location=str(SEED_LISTING))
    ingest_location(location=str(HF_JSON))  # new titles and abstracts for papers it has
    papers = Paper.objects.all()
    assert [p.terms for p in papers] == [stored_terms(p.title, p.abstract) for p in papers]
    assert papers.get(arxiv_id="2511.03104").title.startswith("FW-Merging")


def test_it_never_touches_curation_flags():
    ingest_location(location=str(HF_JSON))
    Paper.objects.filter(arxiv_id="2511.03104").update(hidden=True, pinned=True)
    moved = HF_JSON.read_bytes().replace(b'"upvotes": 87', b'"upvotes": 99')
    ingest_document(data=moved, location="later.json")
    paper = Paper.objects.get(arxiv_id="2511.03104")
    assert (paper.hidden, paper.pinned, paper.upvotes) == (True, True, 99)


def test_it_skips_a_bad_entry_and_reports_it():
    result = ingest_location(location=str(HF_JSON))
    assert result.created == 5
    [skipped] = result.skipped
    assert "title" in skipped.reason
    run = IngestRun.objects.get()
    assert run.status == IngestRun.Status.SUCCEEDED
    assert (run.created, len(run.skipped)) == (5, 1)


def test_it_stores_html_in_titles_as_text():
    ingest_location(location=str(HF_JSON))
    paper = Paper.objects.get(arxiv_id="2511.03121")
    assert paper.title.startswith('<script>alert("upvote me")</script>')


def test_it_does_not_move_a_paper_back_in_time():
    ingest_location(location=str(SEED_LISTING))
    later = SEED_LISTING.read_bytes().replace(b"\nNov 6\n", b"\nNov 7\n", 1)
    ingest_document(data=later, location="nov7.txt")
    ingest_location(location=str(SEED_LISTING))
    assert set(Paper.objects.values_list("featured_on", flat=True)) == {date(2025, 11, 7)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (fixture_bytes("hf-daily-papers-2025-11-06.txt")[:60000], "cut off"),
        (fixture_bytes("arxiv-api-error.atom.xml"), "error"),
        (fixture_bytes("http-503-error.html"), "HTML page"),
        (fixture_bytes("hf-daily-papers.json")[:3000], ""),
    ],
)
def test_a_broken_document_names_the_source_and_changes_nothing(data, message):
    ingest_location(location=str(SEED_LISTING))
    before = snapshot()
    with pytest.raises(IngestError, match=f"^broken-source: .*{message}"):
        ingest_document(data=data, location="broken-source")
    assert snapshot() == before


def test_a_failed_ingest_is_recorded_with_its_error(tmp_path):
    path = tmp_path / "listing.json"
    path.write_text("[{]")
    with pytest.raises(IngestError):
        ingest_location(location=str(path))
    run = IngestRun.objects.get()
    assert run.status == IngestRun.Status.FAILED
    assert str(path) in run.error
    assert Paper.objects.count() == 0


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="cannot read the file"):
        ingest_location(location=str(tmp_path / "nope.txt"))


def test_it_ingests_every_format_with_the_right_source(tmp_path):
    for name in [
        "hf-daily-papers.json",
        "hf-daily-papers-old.json",
        "hf-daily-papers.html",
        "arxiv-api-query-testing-10.atom.xml",
        "arxiv-list-cs-LG-new.html",
    ]:
        result = ingest_location(location=str(FIXTURES / name))
        assert result.created + result.updated + result.unchanged > 0, name
    paper = Paper.objects.get(arxiv_id="2202.12139")
    assert list(paper.sources.values_list("source", flat=True)) == ["arxiv"]
    assert paper.authors == ["Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker"]


@pytest.mark.parametrize("listing_format", LISTING_FORMATS, ids=lambda f: f.name)
def test_every_format_files_its_papers_under_its_own_source(listing_format):
    result = ingest_location(location=str(FIXTURES / FIXTURE_OF_FORMAT[listing_format.name]))
    assert result.format == listing_format.name
    sources = PaperSource.objects.filter(paper_id__in=result.paper_ids)
    assert set(sources.values_list("source", flat=True)) == {listing_format.source.name}


def test_a_listing_whose_format_names_no_source_is_refused_not_filed_under_a_guess(
    monkeypatch,
):
    # A parser that reports a format the registry does not list (a new parser half added).
    stray = ParsedListing(format="rss", records=[PaperRecord(title="A paper from nowhere")])
    monkeypatch.setattr("papers.ingest.parse_listing", lambda *args, **kwargs: stray)
    with pytest.raises(IngestError, match=r"^stray\.json: unknown format 'rss'"):
        ingest_document(data=b"[]", location="stray.json")
    assert Paper.objects.count() == 0
    assert PaperSource.objects.count() == 0


# What each registered source's listing address answers with, for the fake network below.
DOCUMENT_OF_SOURCE = {"hf": "hf-daily-papers.json", "arxiv": "arxiv-list-cs-LG-new.html"}


@pytest.mark.parametrize("source", LISTING_SOURCES, ids=lambda s: s.name)
def test_every_source_can_be_ingested_by_name(monkeypatch, source):
    fetched = []

    def fake_fetch(url):
        fetched.append(url)
        return fixture_bytes(DOCUMENT_OF_SOURCE[source.name])

    monkeypatch.setattr("papers.ingest.fetch_document", fake_fetch)
    # Today's list first (a one-list-a-day source also reads the last TRENDING_DAYS again).
    result, *rereads = ingest_source(source=source.name, categories=["cs.LG"])
    assert {url.split(":", 1)[0] for url in fetched} == {"https"}
    assert len(fetched) == 1 + len(rereads)
    assert result.created > 0
    assert set(PaperSource.objects.values_list("source", flat=True)) == {source.name}


def test_an_unknown_source_is_refused_with_the_known_ones():
    with pytest.raises(IngestError, match="unknown source 'rss'; expected one of hf, arxiv"):
        ingest_source(source="rss")
    assert IngestRun.objects.count() == 0


def test_a_paper_arrives_when_first_stored_and_again_when_featured_on_a_later_day():
    import time_machine

    from tests.beat import utc

    with time_machine.travel(utc(2025, 11, 6, 6, 15), tick=False):
        ingest_location(location=str(HF_JSON))
    paper = Paper.objects.get(arxiv_id="2511.03104")
    assert paper.arrived_at == utc(2025, 11, 6, 6, 15)
    with time_machine.travel(utc(2025, 11, 6, 12, 15), tick=False):
        ingest_location(location=str(HF_JSON))  # the same day's list read again
    paper.refresh_from_db()
    assert paper.arrived_at == utc(2025, 11, 6, 6, 15)
    with time_machine.travel(utc(2025, 11, 9, 6, 15), tick=False):
        data = fixture_bytes("hf-daily-papers.json").replace(b"2025-11-06T", b"2025-11-09T")
        ingest_document(data=data, location="hf-2025-11-09.json")
    paper.refresh_from_db()
    assert (paper.featured_on, paper.arrived_at) == (date(2025, 11, 9), utc(2025, 11, 9, 6, 15))
