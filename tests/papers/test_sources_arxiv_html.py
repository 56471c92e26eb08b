from datetime import date
from pathlib import Path

import pytest

from papers.sources.arxiv_html import parse_arxiv_html
from papers.sources.records import ListingParseError, SkippedEntry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MAIN_FIXTURE = "arxiv-list-cs-LG-new.html"


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def by_id(listing):
    return {record.arxiv_id: record for record in listing.records}


def listing_page(*entries: str, heading: str = "") -> str:
    return (
        "<!DOCTYPE html><html><head><title>Machine Learning</title></head><body>"
        f"<div id='dlpage'>{heading}<dl id='articles'>{''.join(entries)}</dl></div>"
        "</body></html>"
    )


def entry(arxiv_id: str, title_html: str, subjects_html: str = "") -> str:
    return (
        f'<dt><a href ="/abs/{arxiv_id}" title="Abstract" id="{arxiv_id}">arXiv:{arxiv_id}</a>'
        f"</dt><dd><div class='meta'><div class='list-title mathjax'>"
        f"<span class='descriptor'>Title:</span>{title_html}</div>"
        f"<div class='list-subjects'><span class='descriptor'>Subjects:</span>{subjects_html}"
        "</div></div></dd>"
    )


def test_it_reads_new_cross_listed_and_replaced_papers_in_page_order():
    listing = parse_arxiv_html(read_fixture(MAIN_FIXTURE))

    assert listing.format == "arxiv-html"
    assert [record.arxiv_id for record in listing.records] == [
        "2511.03512",
        "2511.03547",
        "2511.03618",
        "2511.02871",
        "2511.02903",
        "2503.05236",
        "2505.09568",
    ]


def test_it_dates_the_listing_from_its_heading():
    listing = parse_arxiv_html(read_fixture(MAIN_FIXTURE))

    assert listing.listing_date == date(2025, 11, 6)
    assert {record.featured_on for record in listing.records} == {date(2025, 11, 6)}
    assert {record.published_on for record in listing.records} == {None}


def test_it_reads_what_a_reader_sees_of_a_paper():
    record = by_id(parse_arxiv_html(read_fixture(MAIN_FIXTURE)))["2511.03512"]

    assert record.title == "Scalable Neural Network Kernels"
    assert record.authors == (
        "Arijit Sehanobish",
        "Krzysztof Choromanski",
        "Yunfan Zhao",
        "Avinava Dubey",
        "Valerii Likhosherstov",
    )
    assert record.abstract.startswith(
        "We introduce the concept of scalable neural network kernels (SNNKs), the replacements"
    )
    assert record.abstract.endswith("while maintaining competitive accuracy.")
    assert record.categories == ("cs.LG",)
    assert record.arxiv_url == "https://arxiv.org/abs/2511.03512"
    assert record.pdf_url == "https://arxiv.org/pdf/2511.03512"


def test_it_collapses_hard_line_breaks():
    record = by_id(parse_arxiv_html(read_fixture(MAIN_FIXTURE)))["2511.03547"]

    assert record.title == "Self-Supervised Dataset Distillation for Transfer Learning"
    assert "\n" not in record.abstract
    assert record.abstract.startswith(
        "Dataset distillation methods have achieved remarkable success in distilling a large"
    )


def test_it_lists_the_primary_subject_first():
    records = by_id(parse_arxiv_html(read_fixture(MAIN_FIXTURE)))

    assert records["2511.03547"].categories == ("cs.LG", "cs.AI", "cs.CV")
    assert records["2511.03618"].categories == ("cs.LG", "stat.ML")
    assert records["2511.02903"].categories == ("cs.CV", "cs.AI", "cs.LG")


def test_it_keeps_a_replacement_without_an_abstract():
    record = by_id(parse_arxiv_html(read_fixture(MAIN_FIXTURE)))["2505.09568"]

    assert record.title == (
        "BLIP3-o: A Family of Fully Open Unified Multimodal Models-Architecture, "
        "Training and Dataset"
    )
    assert record.abstract == ""
    assert len(record.authors) == 13
    assert record.authors[-1] == "Ran Xu"


def test_it_skips_the_entry_without_a_title():
    listing = parse_arxiv_html(read_fixture(MAIN_FIXTURE))

    assert listing.skipped == [
        SkippedEntry(position=3, reason="entry has no title", excerpt="2511.03590")
    ]


def test_it_keeps_markup_in_a_title_as_text():
    text = listing_page(
        entry("2511.00001", "&lt;script&gt;alert(1)&lt;/script&gt; Sparse &amp; Fast"),
    )

    assert parse_arxiv_html(text).records[0].title == "<script>alert(1)</script> Sparse & Fast"


def test_it_reads_subject_codes_outside_computer_science():
    text = listing_page(
        entry(
            "2511.00001",
            "Quantum Kernels",
            '<span class="primary-subject">Quantum Physics (quant-ph)</span>; '
            "Optimization and Control (math.OC); Machine Learning (stat.ML)",
        ),
    )

    assert parse_arxiv_html(text).records[0].categories == ("quant-ph", "math.OC", "stat.ML")


def test_it_has_no_listing_date_without_the_heading():
    listing = parse_arxiv_html(listing_page(entry("2511.00001", "Undated")))

    assert listing.listing_date is None
    assert listing.records[0].featured_on is None


def test_it_reads_the_month_whatever_the_locale():
    heading = "<h3>Showing new listings for Monday, 2 March 2026</h3>"

    listing = parse_arxiv_html(listing_page(entry("2511.00001", "Dated"), heading=heading))
    assert listing.listing_date == date(2026, 3, 2)


def test_it_returns_a_listing_whose_entries_are_all_bad():
    listing = parse_arxiv_html(listing_page(entry("2511.00001", "")))

    assert listing.records == []
    assert listing.skipped == [
        SkippedEntry(position=1, reason="entry has no title", excerpt="2511.00001")
    ]


def test_it_refuses_a_truncated_page():
    text = read_fixture(MAIN_FIXTURE)

    with pytest.raises(ListingParseError, match="truncated"):
        parse_arxiv_html(text[: len(text) // 2])


def test_it_refuses_a_page_missing_announced_entries():
    heading = "<h3>New submissions (showing 2 of 2 entries)</h3>"

    with pytest.raises(ListingParseError, match="announces 2 entries but only 1 were found"):
        parse_arxiv_html(listing_page(entry("2511.00001", "Lonely"), heading=heading))


def test_it_refuses_an_html_error_page():
    with pytest.raises(ListingParseError, match="no paper entries found") as raised:
        parse_arxiv_html(read_fixture("http-503-error.html"))

    assert "503 Service Temporarily Unavailable" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty document"),
        ("No entries today", "not an HTML document"),
        ("<dl><dt>Term</dt><dd>Definition</dd></dl>", "no paper entries found"),
        ("\x00\x01<\xff\xfe", "no paper entries found"),
    ],
)
def test_it_refuses_what_is_not_a_listing_page(text, message):
    with pytest.raises(ListingParseError, match=message):
        parse_arxiv_html(text)


def test_it_refuses_an_atom_feed():
    with pytest.raises(ListingParseError, match="got an XML document"):
        parse_arxiv_html(read_fixture("arxiv-api-query-testing-10.atom.xml"))
