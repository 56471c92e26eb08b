"""Listing parsers: pure functions from a document's text to a ``ParsedListing``.

``parse_listing`` is the one entry point: it detects the format from the content (or takes
the one it is told) and calls the matching parser. Nothing here touches the ORM or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from .arxiv_atom import parse_arxiv_atom
from .arxiv_html import parse_arxiv_html
from .hf_html import parse_hf_html
from .hf_json import parse_hf_json
from .records import (
    ListingParseError,
    PaperRecord,
    ParsedListing,
    SkippedEntry,
    normalise_arxiv_id,
    normalise_title,
)
from .seed import parse_seed

__all__ = [
    "FORMATS",
    "ListingParseError",
    "PaperRecord",
    "ParsedListing",
    "SkippedEntry",
    "decode_document",
    "detect_format",
    "normalise_arxiv_id",
    "normalise_title",
    "parse_listing",
]

FORMATS = ("seed", "hf-json", "hf-html", "arxiv-atom", "arxiv-html")


def decode_document(data: bytes) -> str:
    """The text of a listing, which must be UTF-8 (a byte-order mark is allowed)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ListingParseError(
            f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}"
        ) from None


def detect_format(text: str) -> str:
    """Which of ``FORMATS`` the document looks like, judged from its content alone."""
    head = text.lstrip("\ufeff \t\r\n")[:4096]
    lowered = head.lower()
    if not head:
        raise ListingParseError("the document is empty")
    if head[0] in "[{":
        return "hf-json"
    if head.startswith("<?xml") or "<feed" in lowered:
        return "arxiv-atom"
    if "<" in head[:200] and ("<html" in lowered or "<!doctype" in lowered):
        # Both pages are large; look at the whole text only for these two markers.
        if 'data-target="DailyPapers"' in text or "data-target=&quot;DailyPapers" in text:
            return "hf-html"
        if 'class="list-title' in text or "arxiv.org" in lowered or "/list/" in text:
            return "arxiv-html"
        raise ListingParseError(
            "an HTML page that is neither a Hugging Face Daily Papers page nor an arXiv "
            "listing (an error or login page?)"
        )
    if "Daily Papers" in head:
        return "seed"
    raise ListingParseError(
        "unrecognised document: not JSON, an Atom feed, an HTML listing or a Daily Papers text "
        "listing"
    )


_PARSERS: dict[str, Callable[..., ParsedListing]] = {
    "seed": parse_seed,
    "hf-json": parse_hf_json,
    "hf-html": parse_hf_html,
    "arxiv-atom": parse_arxiv_atom,
    "arxiv-html": parse_arxiv_html,
}


def parse_listing(
    text: str, *, format: str | None = None, listing_date: date | None = None
) -> ParsedListing:
    """Parse a listing document, detecting its format unless ``format`` names one.

    ``listing_date`` is the day the listing is for, when the caller knows it; it fills in
    what the document leaves out (the seed text has no year) and is the featured date of
    papers whose listing does not carry one. Raises ``ListingParseError`` only.
    """
    chosen = format or detect_format(text)
    if chosen not in _PARSERS:
        raise ListingParseError(f"unknown format {chosen!r}; expected one of {', '.join(FORMATS)}")
    if chosen == "seed":
        listing = parse_seed(text, listing_date=listing_date)
    else:
        listing = _PARSERS[chosen](text)
    if listing_date is not None and listing.listing_date is None:
        listing.listing_date = listing_date
    return listing
