"""Reading Hugging Face daily-paper items, shared by the JSON API and the HTML page parsers.

Both documents carry the same item shape (the page embeds the API's items), so the rules for
turning an item into a ``PaperRecord`` live here once.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from papers.sources.records import (
    PaperRecord,
    ParsedListing,
    SkippedEntry,
    arxiv_links,
    clean_text,
    normalise_arxiv_id,
    without_surrogates,
)

HF_PAPER_URL = "https://huggingface.co/papers/{}"
EXCERPT_LENGTH = 80


def hf_listing(
    items: list[object], format_name: str, listing_date: date | None = None
) -> ParsedListing:
    """Every readable item as a record, every unreadable one as a skipped entry.

    ``listing_date`` defaults to the most common ``featured_on`` date of the records (None
    when no record has one): the API does not state the day it was asked about.
    """
    listing = ParsedListing(format=format_name)
    for position, item in enumerate(items, start=1):
        result = hf_item_record(item, position)
        if isinstance(result, SkippedEntry):
            listing.skipped.append(result)
        else:
            listing.records.append(result)
    listing.listing_date = listing_date or most_common_featured_on(listing.records)
    return listing


def hf_item_record(item: object, position: int) -> PaperRecord | SkippedEntry:
    """One daily-papers item as a record, or why it could not be read.

    Fields of the wrong JSON type are treated as absent rather than failing the item: only a
    missing title makes an item unusable.
    """
    if not isinstance(item, dict):
        return SkippedEntry(position, f"item is {describe_json(item)}, not an object")
    paper = item.get("paper")
    if not isinstance(paper, dict):
        excerpt = _excerpt(_text(item.get("title")))
        return SkippedEntry(position, "item has no paper object", excerpt)

    raw_id = _text(paper.get("id"))
    arxiv_id = normalise_arxiv_id(raw_id)
    # The item repeats the paper's title at top level; either will do.
    title = _text(paper.get("title")) or _text(item.get("title"))
    if not title:
        return SkippedEntry(position, "item has no title", _excerpt(arxiv_id or raw_id))

    arxiv_url, pdf_url = arxiv_links(arxiv_id)
    return PaperRecord(
        title=title,
        abstract=_text(paper.get("summary")) or _text(item.get("summary")),
        summary=_text(paper.get("ai_summary")),
        arxiv_id=arxiv_id,
        authors=_author_names(paper.get("authors")),
        published_on=iso_date(paper.get("publishedAt")),
        featured_on=iso_date(paper.get("submittedOnDailyAt")),
        upvotes=_count(paper.get("upvotes")),
        comment_count=_count(item.get("numComments")),
        arxiv_url=arxiv_url,
        pdf_url=pdf_url,
        hf_url=HF_PAPER_URL.format(arxiv_id) if arxiv_id else "",
        github_url=web_url(paper.get("githubRepo")),
        github_stars=_count(paper.get("githubStars")),
        project_url=web_url(paper.get("projectPage")),
        thumbnail_url=web_url(item.get("thumbnail")),
        keywords=_keywords(paper.get("ai_keywords")),
    )


def most_common_featured_on(records: list[PaperRecord]) -> date | None:
    """The day most records were featured on (the first seen wins a tie), or None."""
    days = Counter(record.featured_on for record in records if record.featured_on)
    if not days:
        return None
    return days.most_common(1)[0][0]


def iso_date(value: object) -> date | None:
    """The calendar date of an ISO 8601 date or datetime string, as written (no tz shift)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None


def web_url(value: object) -> str:
    """An http(s) URL, or "".

    Other schemes are dropped because these URLs end up in links: escaping does not make a
    ``javascript:`` href harmless.
    """
    url = _text(value)
    if url.lower().startswith(("https://", "http://")):
        return url
    return ""


def describe_json(value: object) -> str:
    """What kind of JSON value this is, for error messages ("an object", "a string"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a number"


def _text(value: object) -> str:
    return clean_text(without_surrogates(value)) if isinstance(value, str) else ""


def _excerpt(value: str) -> str:
    return value if len(value) <= EXCERPT_LENGTH else value[: EXCERPT_LENGTH - 1] + "…"


def _count(value: object) -> int | None:
    # bool is an int subclass, and JSON true is not a count.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _author_names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = (_text(author.get("name")) for author in value if isinstance(author, dict))
    return tuple(name for name in names if name)


def _keywords(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    keywords = (_text(keyword) for keyword in value)
    return tuple(dict.fromkeys(keyword for keyword in keywords if keyword))
