"""Parser for the Hugging Face Daily Papers API (``/api/daily_papers?date=YYYY-MM-DD``)."""

from __future__ import annotations

import json

from papers.sources.hf_common import describe_json, hf_listing
from papers.sources.records import Glance, ListingParseError, ParsedListing, clean_text

FORMAT = "hf-json"


def looks_like_hf_json(glance: Glance) -> bool:
    """Whether the document is JSON: of the listings we read, only the Daily Papers API's is."""
    return glance.head.startswith(("[", "{"))


def parse_hf_json(text: str) -> ParsedListing:
    """Read a Daily Papers API response: a JSON list of daily-paper items.

    Promises: returns a ``ParsedListing`` (format "hf-json") with one record per readable item
    and one ``SkippedEntry`` per unreadable one, in document order; ``listing_date`` is the
    most common featured-on date (None for older responses that lack it). Raises only
    ``ListingParseError``, when the text is not such a list; an empty list is an empty listing.
    """
    if not text.strip():
        raise ListingParseError("empty document: expected a JSON list of daily-paper items")
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ListingParseError("JSON is nested too deeply to be a daily-papers response") from exc
    except ValueError as exc:
        # An HTML error page or a captive portal is the usual non-JSON answer; say so plainly.
        if text.lstrip().startswith("<"):
            raise ListingParseError(
                "expected a JSON list of daily-paper items, got markup (an HTML/XML page?)"
            ) from exc
        raise ListingParseError(f"not valid JSON: {exc}") from exc

    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str) and error.strip():
            raise ListingParseError(f"Hugging Face API returned an error: {clean_text(error)}")
        raise ListingParseError("expected a JSON list of daily-paper items, got an object")
    if not isinstance(data, list):
        raise ListingParseError(
            f"expected a JSON list of daily-paper items, got {describe_json(data)}"
        )
    # An empty list is a real answer: nothing was featured that day (weekends, holidays).
    return hf_listing(data, FORMAT)
