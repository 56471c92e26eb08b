from datetime import date
from pathlib import Path

import pytest

from papers.sources.arxiv_atom import parse_arxiv_atom
from papers.sources.records import ListingParseError, SkippedEntry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MAIN_FIXTURE = "arxiv-api-query-testing-10.atom.xml"


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def feed(*entries: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">'
        + "".join(entries)
        + "</feed>"
    )


def test_it_reads_all_ten_entries_in_order():
    listing = parse_arxiv_atom(read_fixture(MAIN_FIXTURE))

    assert listing.format == "arxiv-atom"
    assert listing.listing_date is None
    assert listing.skipped == []
    assert [record.arxiv_id for record in listing.records] == [
        "2202.12139",
        "2405.13786",
        "2005.14124",
        "2204.08348",
        "2302.03287",
        "1202.4527",
        "2503.05378",
        "1205.1866",
        "2502.07719",
        "1812.11470",
    ]


def test_it_reads_what_a_reader_sees_of_a_paper():
    record = parse_arxiv_atom(read_fixture(MAIN_FIXTURE)).records[0]

    assert record.title == (
        "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    )
    assert record.abstract.startswith("Deep Learning (DL) has revolutionized the capabilities")
    assert record.abstract.endswith("and discuss its results.")
    assert record.authors == ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")
    assert record.published_on == date(2022, 2, 24)
    assert record.categories == ("cs.SE", "cs.LG")
    assert record.arxiv_url == "https://arxiv.org/abs/2202.12139"
    assert record.pdf_url == "https://arxiv.org/pdf/2202.12139"
    assert (record.upvotes, record.featured_on, record.hf_url) == (None, None, "")


def test_it_drops_the_version_and_dates_by_first_publication():
    record = parse_arxiv_atom(read_fixture(MAIN_FIXTURE)).records[2]

    assert record.title == "Active Fuzzing for Testing and Securing Cyber-Physical Systems"
    assert record.arxiv_id == "2005.14124"
    assert record.published_on == date(2020, 5, 28)
    assert record.categories == ("cs.SE", "cs.CR", "cs.LG")


def test_it_decodes_entities_in_titles():
    record = parse_arxiv_atom(read_fixture(MAIN_FIXTURE)).records[4]

    assert record.title == "ChatGPT and Software Testing Education: Promises & Perils"


def test_it_collapses_hard_line_breaks_in_summaries():
    record = parse_arxiv_atom(read_fixture(MAIN_FIXTURE)).records[9]

    assert "\n" not in record.abstract
    assert "  " not in record.abstract
    assert "community as a whole. Objective. In this systematic review" in record.abstract


def test_it_puts_the_primary_category_first():
    text = feed(
        "<entry><id>http://arxiv.org/abs/2511.00001v2</id><title>Cross-listed</title>"
        '<category term="cs.LG"/><category term="cs.CV"/><category term="cs.LG"/>'
        '<arxiv:primary_category term="cs.CV"/></entry>'
    )

    assert parse_arxiv_atom(text).records[0].categories == ("cs.CV", "cs.LG")


def test_it_keeps_markup_in_a_title_as_text():
    text = feed(
        "<entry><id>http://arxiv.org/abs/2511.00001v1</id>"
        "<title>&lt;script&gt;alert(1)&lt;/script&gt; Attention &lt;b&gt;Is&lt;/b&gt; Enough"
        "</title></entry>"
    )

    assert parse_arxiv_atom(text).records[0].title == (
        "<script>alert(1)</script> Attention <b>Is</b> Enough"
    )


def test_it_skips_an_entry_without_a_title():
    text = feed(
        "<entry><id>http://arxiv.org/abs/2511.00001v1</id><title>Kept</title></entry>",
        "<entry><id>http://arxiv.org/abs/2511.00002v1</id><title>  </title></entry>",
    )

    listing = parse_arxiv_atom(text)
    assert [record.title for record in listing.records] == ["Kept"]
    assert listing.skipped == [
        SkippedEntry(position=2, reason="entry has no title", excerpt="2511.00002")
    ]


def test_it_returns_an_empty_listing_for_a_query_without_results():
    listing = parse_arxiv_atom(read_fixture("arxiv-api-no-results.atom.xml"))

    assert listing.records == []
    assert listing.skipped == []


def test_it_raises_the_api_error_message_instead_of_a_paper():
    with pytest.raises(
        ListingParseError,
        match=r"arXiv API returned an error: incorrect id format for 2511\.0123456",
    ):
        parse_arxiv_atom(read_fixture("arxiv-api-error.atom.xml"))


def test_it_never_expands_entities():
    text = (
        '<?xml version="1.0"?><!DOCTYPE feed ['
        '<!ENTITY secret SYSTEM "file:///etc/passwd">'
        '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        "<id>http://arxiv.org/abs/2511.00001v1</id><title>&secret; &b;</title></entry></feed>"
    )

    title = parse_arxiv_atom(text).records[0].title
    assert "root:" not in title
    assert "aaaaaaaaaa" not in title


def test_it_refuses_a_truncated_feed():
    text = read_fixture(MAIN_FIXTURE)

    with pytest.raises(ListingParseError, match="not well-formed XML"):
        parse_arxiv_atom(text[: len(text) // 2])


def test_it_refuses_an_html_error_page():
    with pytest.raises(ListingParseError, match=r"not an Atom feed: root element is <html>"):
        parse_arxiv_atom(read_fixture("http-503-error.html"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty document"),
        ("\n\t ", "empty document"),
        ("<html><body><p>Rate limited</p></body></html>", "root element is <html>"),
        ('<rss version="2.0"><channel/></rss>', "root element is <rss>"),
        ("<feed><entry/></feed>", "root element is <feed> outside the Atom namespace"),
        ('[{"paper": {"id": "2511.00001"}}]', "not well-formed XML"),
        ("\x00\x01\xff\xfe garbage", "not well-formed XML"),
    ],
)
def test_it_refuses_what_is_not_an_atom_feed(text, message):
    with pytest.raises(ListingParseError, match=message):
        parse_arxiv_atom(text)
