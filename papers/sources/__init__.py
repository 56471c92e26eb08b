"""Listing parsers: pure functions from a document's text to a ``ParsedListing``.

``parse_listing`` is the one entry point: it detects the format from the content (or takes
the one it is told) and calls the matching parser. Which formats and sources exist, and how
each is recognised and read, is ``registry.LISTING_FORMATS``. Nothing here touches the ORM or
HTTP.
"""

from __future__ import annotations

from datetime import date

from .records import (
    Glance,
    ListingParseError,
    PaperRecord,
    ParsedListing,
    SkippedEntry,
    normalise_arxiv_id,
    normalise_title,
)
from .registry import (
    ARXIV,
    FORMATS,
    HUGGING_FACE,
    LISTING_FORMATS,
    LISTING_SOURCES,
    SOURCE_NAMES,
    Format,
    Source,
    format_named,
    source_choices,
    source_named,
)

__all__ = [
    "ARXIV",
    "FORMATS",
    "HUGGING_FACE",
    "LISTING_FORMATS",
    "LISTING_SOURCES",
    "SOURCE_NAMES",
    "Format",
    "ListingParseError",
    "PaperRecord",
    "ParsedListing",
    "SkippedEntry",
    "Source",
    "decode_document",
    "detect_format",
    "format_named",
    "normalise_arxiv_id",
    "normalise_title",
    "parse_listing",
    "source_choices",
    "source_named",
]


def decode_document(data: bytes) -> str:
    """The text of a listing, which must be UTF-8 (a byte-order mark is allowed)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ListingParseError(
            f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}"
        ) from None


def detect_format(text: str) -> str:
    """Which of ``FORMATS`` the document looks like, judged from its content alone.

    The formats are tried in ``LISTING_FORMATS`` order. Raises ``ListingParseError`` when none
    fits, saying whether the document was at least an HTML page (an error or login page).
    """
    glance = Glance.of(text)
    if not glance.head:
        raise ListingParseError("the document is empty")
    for listing_format in LISTING_FORMATS:
        if listing_format.looks_like(glance):
            return listing_format.name
    if glance.is_html_page:
        raise ListingParseError(
            "an HTML page that is neither a Hugging Face Daily Papers page nor an arXiv "
            "listing (an error or login page?)"
        )
    raise ListingParseError(
        "unrecognised document: not JSON, an Atom feed, an HTML listing or a Daily Papers text "
        "listing"
    )


def parse_listing(
    text: str, *, format: str | None = None, listing_date: date | None = None
) -> ParsedListing:
    """Parse a listing document, detecting its format unless ``format`` names one.

    ``listing_date`` is the day the listing is for, when the caller knows it; it fills in
    what the document leaves out (the seed text has no year) and is the featured date of
    papers whose listing does not carry one. Raises ``ListingParseError`` only.
    """
    chosen = format_named(format or detect_format(text))
    listing = chosen.parse(text, listing_date=listing_date)
    if listing_date is not None and listing.listing_date is None:
        listing.listing_date = listing_date
    return listing
