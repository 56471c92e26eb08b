"""Parser for the Hugging Face papers page (``https://huggingface.co/papers?date=...``).

The page is rendered by Svelte; the data it hydrates from sits as HTML-escaped JSON in the
``data-props`` attribute of the ``div`` whose ``data-target`` is "DailyPapers". Reading that
JSON is sturdier than scraping the rendered cards, whose markup changes with every redesign.
"""

from __future__ import annotations

import json

from bs4 import BeautifulSoup
from bs4.exceptions import ParserRejectedMarkup

from papers.sources.hf_common import describe_json, hf_listing, iso_date
from papers.sources.records import (
    Glance,
    ListingParseError,
    ParsedListing,
    clean_text,
    without_surrogates,
)

FORMAT = "hf-html"
DATA_TARGET = "DailyPapers"


def looks_like_hf_html(glance: Glance) -> bool:
    """Whether the document is an HTML page holding the Daily Papers data ``div``."""
    # The page is large and the div sits anywhere in it; the whole text is searched only
    # once the start has shown an HTML page. Some pages escape the attribute's quotes.
    return glance.is_html_page and (
        f'data-target="{DATA_TARGET}"' in glance.text
        or f"data-target=&quot;{DATA_TARGET}" in glance.text
    )


def parse_hf_html(text: str) -> ParsedListing:
    """Read a Hugging Face daily papers page.

    Promises: returns a ``ParsedListing`` (format "hf-html") built from the page's embedded
    daily-paper items exactly as ``parse_hf_json`` builds it from the API, except that the
    page's own ``date`` (when present and valid) is the ``listing_date``. Raises only
    ``ListingParseError``: when the text is not HTML, has no DailyPapers block (a login page,
    a captive portal, an error page), or the block's data is unreadable or empty.
    """
    soup = _soup(text)
    block = soup.find("div", attrs={"data-target": DATA_TARGET})
    if block is None:
        # lxml drops an element whose attribute never ends, which is how a cut-off page looks.
        if f'data-target="{DATA_TARGET}"' in text:
            raise ListingParseError(f"the {DATA_TARGET} block is cut off (truncated page?)")
        raise ListingParseError(
            f"no {DATA_TARGET} block found: not a Hugging Face papers page{_title_hint(soup)}"
        )
    props_text = block.get("data-props")
    if not isinstance(props_text, str) or not props_text.strip():
        raise ListingParseError(f"the {DATA_TARGET} block has no data-props")
    try:
        props = json.loads(props_text)
    except (ValueError, RecursionError) as exc:
        raise ListingParseError(
            f"the {DATA_TARGET} data-props is not valid JSON (truncated page?): {exc}"
        ) from exc
    if not isinstance(props, dict):
        raise ListingParseError(
            f"the {DATA_TARGET} data-props should be an object, got {describe_json(props)}"
        )
    items = props.get("dailyPapers")
    if not isinstance(items, list):
        raise ListingParseError(f"the {DATA_TARGET} data-props has no dailyPapers list")
    return hf_listing(items, FORMAT, listing_date=iso_date(props.get("date")))


def _soup(text: str) -> BeautifulSoup:
    # Checked before BeautifulSoup sees the text, because it warns (rather than fails) on
    # input that looks like a file name, a URL or an XML document.
    stripped = text.strip()
    if not stripped:
        raise ListingParseError("empty document: expected a Hugging Face papers page")
    if "<" not in stripped:
        raise ListingParseError("not an HTML document: no markup at all")
    head = stripped[:500].lower()
    if head.startswith("<?xml") and "html" not in head:
        raise ListingParseError("expected a Hugging Face papers page, got an XML document")
    try:
        return BeautifulSoup(without_surrogates(text), "lxml")
    except ParserRejectedMarkup as exc:
        raise ListingParseError(f"unreadable HTML: {exc}") from exc


def _title_hint(soup: BeautifulSoup) -> str:
    title = soup.title.get_text() if soup.title else ""
    title = clean_text(title)[:80]
    return f" (page title: {title!r})" if title else ""
