import html
import json
from datetime import date
from pathlib import Path

import pytest

from papers.sources.hf_html import parse_hf_html
from papers.sources.hf_json import parse_hf_json
from papers.sources.records import ListingParseError, SkippedEntry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def page_with_props(props: object) -> str:
    escaped = html.escape(json.dumps(props), quote=True)
    return (
        "<!doctype html><html><head><title>Daily Papers - Hugging Face</title></head><body>"
        f'<div class="SVELTE_HYDRATER contents" data-target="DailyPapers" data-props="{escaped}">'
        "</div></body></html>"
    )


def test_it_reads_the_papers_embedded_in_the_page():
    listing = parse_hf_html(read_fixture("hf-daily-papers.html"))

    assert listing.format == "hf-html"
    assert [record.arxiv_id for record in listing.records] == [
        "2511.03104",
        "2511.02987",
        "2511.03121",
        "2511.02650",
        "2511.03329",
    ]
    first = listing.records[0]
    assert first.title == "FW-Merging: Scaling Model Merging with Frank-Wolfe Optimization"
    assert first.authors[0] == "Hao Mark Chen"
    assert first.upvotes == 87
    assert first.comment_count == 3
    assert first.github_url == "https://github.com/hmarkc/FW-Merging"
    assert first.github_stars == 142
    assert first.published_on == date(2025, 11, 4)
    assert first.featured_on == date(2025, 11, 6)
    assert first.hf_url == "https://huggingface.co/papers/2511.03104"


def test_it_reads_the_same_records_as_the_api():
    page = parse_hf_html(read_fixture("hf-daily-papers.html"))
    api = parse_hf_json(read_fixture("hf-daily-papers.json"))

    assert page.records == api.records
    assert page.skipped == api.skipped


def test_it_unescapes_entities_once_and_keeps_script_as_text():
    listing = parse_hf_html(read_fixture("hf-daily-papers.html"))

    assert listing.records[2].title.startswith('<script>alert("upvote me")</script>PAROAttention')


def test_it_collapses_hard_line_breaks():
    listing = parse_hf_html(read_fixture("hf-daily-papers.html"))

    assert listing.records[1].title == (
        "Uni4D-LLM: A Unified SpatioTemporal-Aware VLM for 4D Understanding and Generation"
    )


def test_it_skips_the_item_without_a_title():
    listing = parse_hf_html(read_fixture("hf-daily-papers.html"))

    assert listing.skipped == [
        SkippedEntry(position=4, reason="item has no title", excerpt="2511.03377")
    ]


def test_it_takes_the_listing_date_from_the_page():
    text = read_fixture("hf-daily-papers.html").replace(
        "&quot;date&quot;:&quot;2025-11-06&quot;", "&quot;date&quot;:&quot;2025-11-07&quot;"
    )

    assert parse_hf_html(text).listing_date == date(2025, 11, 7)


def test_it_falls_back_to_the_most_common_featured_day():
    items = json.loads(read_fixture("hf-daily-papers.json"))

    listing = parse_hf_html(page_with_props({"dailyPapers": items, "date": "not a date"}))
    assert listing.listing_date == date(2025, 11, 6)


def test_it_refuses_a_login_page_and_names_it():
    with pytest.raises(ListingParseError, match="no DailyPapers block found") as raised:
        parse_hf_html(read_fixture("hf-login-page.html"))

    assert "The AI community building the future." in str(raised.value)


def test_it_refuses_an_html_error_page():
    with pytest.raises(ListingParseError, match="503 Service Temporarily Unavailable"):
        parse_hf_html(read_fixture("http-503-error.html"))


def test_it_refuses_a_truncated_page():
    text = read_fixture("hf-daily-papers.html")

    with pytest.raises(ListingParseError, match="truncated page"):
        parse_hf_html(text[: len(text) // 2])


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"papers": []}, "has no dailyPapers list"),
        ([], "should be an object, got a list"),
    ],
)
def test_it_refuses_a_block_without_papers(props, message):
    with pytest.raises(ListingParseError, match=message):
        parse_hf_html(page_with_props(props))


def test_an_empty_papers_list_is_a_day_with_no_papers():
    listing = parse_hf_html(page_with_props({"dailyPapers": []}))
    assert (listing.records, listing.skipped) == ([], [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty document"),
        ("just some words", "not an HTML document"),
        ("https://huggingface.co/papers", "not an HTML document"),
        (
            '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>',
            "got an XML document",
        ),
        ('<div data-target="DailyPapers"></div>', "has no data-props"),
        ('<div data-target="DailyPapers" data-props="{&quot;dailyPapers"></div>', "not valid JSON"),
        ("\x00\x01\x02<\xff\xfe", "no DailyPapers block found"),
    ],
)
def test_it_refuses_what_is_not_a_papers_page(text, message):
    with pytest.raises(ListingParseError, match=message):
        parse_hf_html(text)
