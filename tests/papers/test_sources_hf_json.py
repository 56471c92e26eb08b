import json
from datetime import date
from pathlib import Path

import pytest

from papers.sources.hf_json import parse_hf_json
from papers.sources.records import ListingParseError, SkippedEntry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def by_id(listing):
    return {record.arxiv_id: record for record in listing.records}


def test_it_reads_every_good_item_in_order():
    listing = parse_hf_json(read_fixture("hf-daily-papers.json"))

    assert listing.format == "hf-json"
    assert [record.arxiv_id for record in listing.records] == [
        "2511.03104",
        "2511.02987",
        "2511.03121",
        "2511.02650",
        "2511.03329",
    ]


def test_it_reads_what_a_reader_sees_of_a_paper():
    record = by_id(parse_hf_json(read_fixture("hf-daily-papers.json")))["2511.03104"]

    assert record.title == "FW-Merging: Scaling Model Merging with Frank-Wolfe Optimization"
    assert record.abstract.startswith("Model merging has emerged as a promising approach")
    assert record.abstract.endswith("Our code is open-sourced at github.com/hmarkc/FW-Merging.")
    assert record.authors == (
        "Hao Mark Chen",
        "Shell Xu Hu",
        "Wayne Luk",
        "Timothy Hospedales",
        "Hongxiang Fan",
    )
    assert record.author_count is None
    assert record.published_on == date(2025, 11, 4)
    assert record.featured_on == date(2025, 11, 6)
    assert record.upvotes == 87
    assert record.comment_count == 3
    assert record.github_url == "https://github.com/hmarkc/FW-Merging"
    assert record.github_stars == 142
    assert record.project_url == "https://hmarkc.github.io/fw-merging/"
    assert record.thumbnail_url == (
        "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2511.03104.png"
    )
    assert record.keywords == (
        "model merging",
        "Frank-Wolfe optimization",
        "multi-task learning",
        "constrained optimization",
    )
    assert record.categories == ()


def test_it_links_to_arxiv_and_hugging_face():
    record = by_id(parse_hf_json(read_fixture("hf-daily-papers.json")))["2511.03329"]

    assert record.arxiv_url == "https://arxiv.org/abs/2511.03329"
    assert record.pdf_url == "https://arxiv.org/pdf/2511.03329"
    assert record.hf_url == "https://huggingface.co/papers/2511.03329"
    assert record.github_stars == 1834


def test_it_leaves_absent_optional_fields_empty():
    record = by_id(parse_hf_json(read_fixture("hf-daily-papers.json")))["2511.02987"]

    assert record.github_url == ""
    assert record.github_stars is None
    assert record.project_url == ""


def test_it_collapses_hard_line_breaks():
    record = by_id(parse_hf_json(read_fixture("hf-daily-papers.json")))["2511.02987"]

    assert record.title == (
        "Uni4D-LLM: A Unified SpatioTemporal-Aware VLM for 4D Understanding and Generation"
    )
    assert "\n" not in record.abstract
    assert "  " not in record.abstract
    assert record.abstract.startswith("Vision-language models (VLMs) have demonstrated strong")


def test_it_keeps_a_script_title_as_literal_text():
    record = by_id(parse_hf_json(read_fixture("hf-daily-papers.json")))["2511.03121"]

    assert record.title == (
        '<script>alert("upvote me")</script>PAROAttention: Pattern-Aware ReOrdering for '
        "Efficient Sparse and Quantized Attention in Visual Generation Models"
    )


def test_it_skips_an_item_without_a_title_and_says_which():
    listing = parse_hf_json(read_fixture("hf-daily-papers.json"))

    assert listing.skipped == [
        SkippedEntry(position=4, reason="item has no title", excerpt="2511.03377")
    ]
    assert "2511.03377" not in by_id(listing)


def test_it_dates_the_listing_by_the_most_common_featured_day():
    listing = parse_hf_json(read_fixture("hf-daily-papers.json"))

    assert by_id(listing)["2511.02650"].featured_on == date(2025, 11, 5)
    assert listing.listing_date == date(2025, 11, 6)


def test_it_reads_the_older_response_shape():
    listing = parse_hf_json(read_fixture("hf-daily-papers-old.json"))

    assert listing.listing_date is None
    assert listing.skipped == []
    assert [record.title for record in listing.records] == [
        "UniAnimate: Taming Unified Video Diffusion Models for Consistent Human Image Animation",
        "MUVERA: Multi-Vector Retrieval via Fixed Dimensional Encodings",
        "ByteCheckpoint: A Unified Checkpointing System for Large Foundation Model Development",
    ]
    first = listing.records[0]
    assert first.arxiv_id == "2406.01188"
    assert first.published_on == date(2024, 6, 3)
    assert first.featured_on is None
    assert first.upvotes == 30
    assert first.comment_count == 2
    assert first.authors[:2] == ("Xiang Wang", "Shiwei Zhang")
    assert (first.github_url, first.github_stars, first.project_url) == ("", None, "")
    assert first.keywords == ()


def test_it_takes_the_item_title_when_the_paper_has_none():
    text = json.dumps([{"paper": {"id": "2511.00001"}, "title": "Only At The Top"}])

    assert parse_hf_json(text).records[0].title == "Only At The Top"


def test_it_normalises_a_versioned_id():
    text = json.dumps([{"paper": {"id": "2511.00001v3", "title": "Versioned"}}])

    record = parse_hf_json(text).records[0]
    assert record.arxiv_id == "2511.00001"
    assert record.hf_url == "https://huggingface.co/papers/2511.00001"


def test_it_ignores_fields_of_the_wrong_type():
    item = {
        "paper": {
            "id": 2511,
            "title": "Odd Types",
            "authors": "Jane Doe",
            "upvotes": "many",
            "githubStars": True,
            "publishedAt": "yesterday",
            "ai_keywords": [None, 3, " kept "],
        },
        "numComments": -1,
    }
    record = parse_hf_json(json.dumps([item])).records[0]

    assert record.title == "Odd Types"
    assert record.arxiv_id == ""
    assert record.hf_url == ""
    assert record.authors == ()
    assert record.upvotes is None
    assert record.github_stars is None
    assert record.comment_count is None
    assert record.published_on is None
    assert record.keywords == ("kept",)


def test_it_drops_links_that_are_not_web_urls():
    item = {
        "paper": {
            "id": "2511.00001",
            "title": "Sneaky",
            "githubRepo": "javascript:alert(1)",
            "projectPage": "  https://example.org/project  ",
        },
        "thumbnail": "data:image/png;base64,AAAA",
    }
    record = parse_hf_json(json.dumps([item])).records[0]

    assert record.github_url == ""
    assert record.project_url == "https://example.org/project"
    assert record.thumbnail_url == ""


def test_it_skips_items_that_are_not_papers():
    text = json.dumps(["2511.00001", {"title": "No paper object"}, {"paper": {"title": "Kept"}}])

    listing = parse_hf_json(text)
    assert [record.title for record in listing.records] == ["Kept"]
    assert listing.skipped == [
        SkippedEntry(position=1, reason="item is a string, not an object"),
        SkippedEntry(position=2, reason="item has no paper object", excerpt="No paper object"),
    ]


def test_it_returns_a_listing_whose_items_are_all_bad():
    listing = parse_hf_json(json.dumps([{"paper": {"id": "2511.00001"}}]))

    assert listing.records == []
    assert listing.skipped == [
        SkippedEntry(position=1, reason="item has no title", excerpt="2511.00001")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty document"),
        ("   \n", "empty document"),
        ('{"dailyPapers": []}', "expected a JSON list of daily-paper items, got an object"),
        ('"2511.00001"', "expected a JSON list of daily-paper items, got a string"),
        ("null", "expected a JSON list of daily-paper items, got null"),
        ('{"error": "Invalid date"}', "Hugging Face API returned an error: Invalid date"),
        ("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not valid JSON"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_it_refuses_what_is_not_a_daily_papers_list(text, message):
    with pytest.raises(ListingParseError, match=message):
        parse_hf_json(text)


def test_it_refuses_an_html_error_page():
    with pytest.raises(ListingParseError, match="got markup"):
        parse_hf_json(read_fixture("http-503-error.html"))


def test_it_refuses_a_truncated_response():
    text = read_fixture("hf-daily-papers.json")

    with pytest.raises(ListingParseError, match="not valid JSON"):
        parse_hf_json(text[: len(text) // 2])


def test_an_empty_list_is_a_day_with_no_papers():
    listing = parse_hf_json("[]")
    assert (listing.records, listing.skipped) == ([], [])
