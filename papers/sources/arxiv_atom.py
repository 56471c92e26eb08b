"""Parser for arXiv API responses (``https://export.arxiv.org/api/query``), an Atom feed."""

from __future__ import annotations

import re
from datetime import date

from lxml import etree

from papers.sources.records import (
    Glance,
    ListingParseError,
    PaperRecord,
    ParsedListing,
    SkippedEntry,
    arxiv_links,
    clean_text,
    normalise_arxiv_id,
    without_surrogates,
)

FORMAT = "arxiv-atom"
ATOM_NS = "http://www.w3.org/2005/Atom"
ARXIV_NS = "http://arxiv.org/schemas/atom"
NS = {"atom": ATOM_NS, "arxiv": ARXIV_NS}
# The API reports a bad query as a feed holding one pseudo-entry whose id points here.
ERROR_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/errors", re.IGNORECASE)
EXCERPT_LENGTH = 80
_LOOKS_LIKE_HTML = re.compile(r"^\s*(?:<!doctype\s+html|<html)", re.IGNORECASE)


def looks_like_arxiv_atom(glance: Glance) -> bool:
    """Whether the document is XML or holds an Atom ``<feed``: arXiv's API is our only feed."""
    return glance.head.startswith("<?xml") or "<feed" in glance.lowered


def parse_arxiv_atom(text: str) -> ParsedListing:
    """Read an arXiv API Atom feed.

    Promises: returns a ``ParsedListing`` (format "arxiv-atom", no ``listing_date``: a query
    result is not a dated listing) with one record per entry that has a title and one
    ``SkippedEntry`` per entry that has none. A valid feed with no entries is an empty
    listing, not an error. Raises only ``ListingParseError``: for text that is not
    well-formed XML (including truncated feeds), XML that is not an Atom feed, and an arXiv
    error feed (the message carries arXiv's explanation). Entities are never expanded and
    nothing is fetched from the network.
    """
    root = _parse_xml(text)
    if root.tag != f"{{{ATOM_NS}}}feed":
        local_name = etree.QName(root).localname
        where = " outside the Atom namespace" if local_name == "feed" else ""
        raise ListingParseError(f"not an Atom feed: root element is <{local_name}>{where}")

    entries = root.findall("atom:entry", NS)
    for entry in entries:
        if ERROR_ID.match(_child_text(entry, "atom:id")):
            message = _child_text(entry, "atom:summary") or "no explanation given"
            raise ListingParseError(f"arXiv API returned an error: {message}")

    listing = ParsedListing(format=FORMAT)
    for position, entry in enumerate(entries, start=1):
        result = _entry_record(entry, position)
        if isinstance(result, SkippedEntry):
            listing.skipped.append(result)
        else:
            listing.records.append(result)
    return listing


def _parse_xml(text: str) -> etree._Element:
    if not text.strip():
        raise ListingParseError("empty document: expected an Atom feed")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        # The text is already decoded; a stale encoding declaration must not re-decode it.
        encoding="utf-8",
    )
    try:
        return etree.fromstring(without_surrogates(text).encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        if _LOOKS_LIKE_HTML.match(text):
            raise ListingParseError("not an Atom feed: root element is <html>") from exc
        raise ListingParseError(f"not well-formed XML (truncated?): {exc}") from exc


def _entry_record(entry: etree._Element, position: int) -> PaperRecord | SkippedEntry:
    raw_id = _child_text(entry, "atom:id")
    arxiv_id = normalise_arxiv_id(raw_id)
    title = _child_text(entry, "atom:title")
    if not title:
        excerpt = (arxiv_id or raw_id)[:EXCERPT_LENGTH]
        return SkippedEntry(position, "entry has no title", excerpt)

    arxiv_url, pdf_url = arxiv_links(arxiv_id)
    if not arxiv_id:
        arxiv_url, pdf_url = _link_hrefs(entry)
    authors = (_text(name) for name in entry.findall("atom:author/atom:name", NS))
    return PaperRecord(
        title=title,
        abstract=_child_text(entry, "atom:summary"),
        arxiv_id=arxiv_id,
        authors=tuple(name for name in authors if name),
        published_on=_date(_child_text(entry, "atom:published")),
        arxiv_url=arxiv_url,
        pdf_url=pdf_url,
        categories=_categories(entry),
    )


def _categories(entry: etree._Element) -> tuple[str, ...]:
    terms = [
        clean_text(element.get("term"))
        for element in (
            *entry.findall("arxiv:primary_category", NS),
            *entry.findall("atom:category", NS),
        )
    ]
    return tuple(dict.fromkeys(term for term in terms if term))


def _link_hrefs(entry: etree._Element) -> tuple[str, str]:
    # Only for entries whose id is not an arXiv id; arxiv_links is canonical otherwise.
    abs_url = pdf_url = ""
    for link in entry.findall("atom:link", NS):
        href = clean_text(link.get("href"))
        if not href.lower().startswith(("https://", "http://")):
            continue
        if link.get("rel") == "alternate" and not abs_url:
            abs_url = href
        elif link.get("title") == "pdf" and not pdf_url:
            pdf_url = href
    return abs_url, pdf_url


def _child_text(entry: etree._Element, path: str) -> str:
    child = entry.find(path, NS)
    return _text(child) if child is not None else ""


def _text(element: etree._Element) -> str:
    return clean_text("".join(element.itertext()))


def _date(value: str) -> date | None:
    # Atom dates are RFC 3339; the first ten characters are the calendar date.
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
