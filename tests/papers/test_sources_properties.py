"""Whatever text a source sends back, a parser either reads it or raises ListingParseError."""

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papers.sources import parse_listing
from papers.sources.arxiv_atom import parse_arxiv_atom
from papers.sources.arxiv_html import parse_arxiv_html
from papers.sources.hf_html import parse_hf_html
from papers.sources.hf_json import parse_hf_json
from papers.sources.records import ListingParseError, ParsedListing
from papers.sources.seed import parse_seed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

PARSERS: list[tuple[Callable[[str], ParsedListing], str]] = [
    (parse_hf_json, "hf-daily-papers.json"),
    (parse_hf_html, "hf-daily-papers.html"),
    (parse_arxiv_atom, "arxiv-api-query-testing-10.atom.xml"),
    (parse_arxiv_html, "arxiv-list-cs-LG-new.html"),
    (parse_seed, "hf-daily-papers-2025-11-06.txt"),
    # Format detection in front of every parser: whatever it guesses, only our error escapes.
    (parse_listing, "hf-daily-papers.html"),
]
IDS = [parser.__name__ for parser, _ in PARSERS]

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Characters that matter to the formats (quotes, brackets, escapes, entities) plus any text.
JUNK = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ['"', "'", "<", ">", "&", "&amp;", "&#0;", "]]>", "\\", "{", "}", "[", "]", ",", ":"]
    ),
    st.sampled_from(["\x00", "\ufffd", "\u202e", "\r\n", "<!--", "<![CDATA[", "<!DOCTYPE x>"]),
    # Lone surrogates: what bytes decoded with "surrogateescape" leave behind.
    st.characters(categories=["Cs"]),
)


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def parses_or_refuses(parse: Callable[[str], ParsedListing], text: str) -> None:
    try:
        listing = parse(text)
    except ListingParseError as error:
        assert str(error)
        return
    assert isinstance(listing, ParsedListing)
    assert all(record.title for record in listing.records)


@st.composite
def mutated(draw: st.DrawFn, original: str) -> str:
    """The fixture sliced somewhere, with junk spliced in at a few places."""
    start = draw(st.integers(0, len(original)))
    end = draw(st.integers(start, len(original)))
    text = draw(st.sampled_from([original, original[start:end], original[:end]]))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(JUNK) + text[at:]
    return text


@pytest.mark.parametrize(("parse", "fixture"), PARSERS, ids=IDS)
@PROPERTY_SETTINGS
@given(text=st.text())
def test_it_reads_or_refuses_arbitrary_text(parse, fixture, text):
    parses_or_refuses(parse, text)


@pytest.mark.parametrize(("parse", "fixture"), PARSERS, ids=IDS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_it_reads_or_refuses_damaged_fixtures(parse, fixture, data):
    text = data.draw(mutated(read_fixture(fixture)))
    parses_or_refuses(parse, text)


@pytest.mark.parametrize(("parse", "fixture"), PARSERS, ids=IDS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_it_reads_or_refuses_other_sources_documents(parse, fixture, data):
    others = [name for _, name in PARSERS if name != fixture]
    text = data.draw(mutated(read_fixture(data.draw(st.sampled_from(others)))))
    parses_or_refuses(parse, text)
