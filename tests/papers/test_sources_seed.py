from datetime import date

import pytest

from papers.sources import ListingParseError, parse_listing
from papers.sources.seed import parse_seed
from tests.conftest import fixture_text

SEED = fixture_text("hf-daily-papers-2025-11-06.txt")


def by_title(listing, start):
    return next(r for r in listing.records if r.title.startswith(start))


def test_it_reads_all_82_papers_of_the_seed():
    listing = parse_seed(SEED)
    assert len(listing.records) == 82
    assert listing.skipped == []
    assert len({r.title for r in listing.records}) == 82


def test_it_takes_the_listing_date_from_the_header_and_infers_the_year():
    listing = parse_seed(SEED)
    # The page says "Nov 6"; dated entries run up to 2024, so the page is from 2025.
    assert listing.listing_date == date(2025, 11, 6)
    assert {r.featured_on for r in listing.records} == {date(2025, 11, 6)}


def test_it_reads_title_abstract_author_count_and_date():
    first = parse_seed(SEED).records[0]
    assert first.title == (
        "SE-MoE: A Scalable and Efficient Mixture-of-Experts Distributed Training and "
        "Inference System"
    )
    assert first.abstract.startswith("With the increasing diversity of ML infrastructures")
    assert first.abstract.endswith("https://github.com/PaddlePaddle/Paddle.")
    assert first.author_count == 11
    assert first.authors == ()
    assert first.published_on == date(2022, 5, 20)
    assert first.upvotes is None


def test_it_reads_the_upvote_count_after_a_date():
    listing = parse_seed(SEED)
    # "Jul 28 4": no year (the listing's year), then 4 upvotes.
    with_upvotes = {r.title: (r.published_on, r.upvotes) for r in listing.records if r.upvotes}
    assert len(with_upvotes) == 15
    assert (date(2025, 7, 28), 4) in with_upvotes.values()
    # "Jul 17, 2023 1": a full date, then 1 upvote.
    assert (date(2023, 7, 17), 1) in with_upvotes.values()


def test_it_keeps_an_entry_without_author_or_date_block():
    paper = by_title(parse_seed(SEED), "Feature4X")
    assert paper.abstract.startswith("Recent advancements in 2D and multimodal models")
    assert paper.published_on is None
    assert paper.author_count is None
    assert paper.featured_on == date(2025, 11, 6)


def test_it_uses_a_given_listing_date_for_dates_without_a_year():
    listing = parse_seed(SEED, listing_date=date(2026, 11, 6))
    assert listing.listing_date == date(2026, 11, 6)
    assert (date(2026, 7, 28), 4) in {(r.published_on, r.upvotes) for r in listing.records}


def test_it_puts_a_later_month_without_year_in_the_previous_year():
    text = "Daily Papers\n\nJan 5\n\nA title\n\nAn abstract.\n\n  • 2 authors\n·\nDec 30 3\n"
    [record] = parse_seed(text, listing_date=date(2026, 1, 5)).records
    assert record.published_on == date(2025, 12, 30)
    assert record.upvotes == 3


def test_it_reads_author_names_when_the_listing_gives_them():
    text = (
        "Daily Papers\n\nJan 5\n\nA title\n\nAn abstract.\n\n"
        "  • Ada Lovelace, Alan Turing\n·\nJan 2, 2024\n"
    )
    [record] = parse_seed(text).records
    assert record.authors == ("Ada Lovelace", "Alan Turing")


def test_it_skips_an_entry_with_an_impossible_date_and_keeps_the_rest():
    text = (
        "Daily Papers\n\nJan 5\n\nGood paper\n\nAbstract one.\n\n  • 2 authors\n·\nJan 2, 2024\n\n"
        "Bad paper\n\nAbstract two.\n\n  • 2 authors\n·\nFeb 30, 2024\n"
    )
    listing = parse_seed(text)
    assert [r.title for r in listing.records] == ["Good paper"]
    [skipped] = listing.skipped
    assert skipped.position == 2
    assert "Feb 30, 2024" in skipped.reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'Daily Papers' header"),
        ("Hello, world", "no 'Daily Papers' header"),
        ("Daily Papers\n\nbyAK\n\nsomething\n", "no date line"),
        ("Daily Papers\n\nNov 6\n", "no paper entries"),
        (SEED[: len(SEED) // 2], "cut off"),
        (
            "Daily Papers\n\nNov 6\n\nTitle\n\nAbstract\n\n·\nNov 1 3\n",
            "cannot tell the listing's year",
        ),
    ],
)
def test_it_rejects_what_is_not_a_complete_listing(text, message):
    with pytest.raises(ListingParseError, match=message):
        parse_seed(text)


def test_it_is_detected_from_its_content():
    assert parse_listing(SEED).format == "seed"
