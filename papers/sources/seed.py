"""The seed listing: the plain-text rendering of a Hugging Face Daily Papers page.

Shape, as the page renders it (blank lines omitted)::

    Daily Papers
    byAK and the research community
    Nov 6                                   <- the listing date (no year)
    <title>
    <abstract paragraph>
      • 11 authors                          <- optional block
    ·
    May 20, 2022 42                         <- publication date, then upvotes if any

Hugging Face prints the year only for dates outside the current year, so a date without a
year belongs to the listing's year (or the year before, if it falls after the listing date).
"""

from __future__ import annotations

import re
from datetime import date

from .records import (
    Glance,
    ListingParseError,
    PaperRecord,
    ParsedListing,
    SkippedEntry,
    clean_text,
)

FORMAT = "seed"

_MONTHS = {
    name: number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_HEADER_DATE = re.compile(r"^(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})$")
_ENTRY_DATE = re.compile(
    r"^(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:, (?P<year>\d{4}))?(?: (?P<upvotes>\d{1,7}))?$"
)
_AUTHOR_COUNT = re.compile(r"^•\s*(?P<count>\d{1,5}) authors?$")
_AUTHOR_NAMES = re.compile(r"^•\s*(?P<names>\S.*)$")
_SEPARATOR = "·"
_HEADER_MARKER = "Daily Papers"
_MAX_TITLE_LENGTH = 500


def looks_like_seed(glance: Glance) -> bool:
    """Whether the document is plain text that starts like a Daily Papers page's text."""
    # An HTML page titled "Daily Papers" (a login page, say) is a wrong page, not a seed.
    return not glance.is_html_page and _HEADER_MARKER in glance.head


def parse_seed(text: str, *, listing_date: date | None = None) -> ParsedListing:
    """Read the text rendering of a Hugging Face Daily Papers page.

    Every entry becomes a record featured on the listing date; an entry whose title or date
    cannot be read is skipped with a reason. ``listing_date`` overrides the page's own
    header date (which has no year); without it the year is inferred as the year after the
    latest explicit year on the page.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    try:
        header_index = lines.index(_HEADER_MARKER)
    except ValueError:
        raise ListingParseError(
            f"not a Daily Papers text listing: no '{_HEADER_MARKER}' header line"
        ) from None

    body_start, header = _find_header_date(lines, header_index)
    if body_start >= len(lines):
        raise ListingParseError("the Daily Papers listing has no paper entries")
    if listing_date is None:
        listing_date = _infer_listing_date(header, lines[body_start:])

    listing = ParsedListing(format=FORMAT, listing_date=listing_date)
    position = 0
    index = body_start
    while index < len(lines):
        position += 1
        title = lines[index]
        index += 1
        abstract = ""
        if index < len(lines) and not _is_meta_line(lines[index]):
            abstract = lines[index]
            index += 1
        meta: list[str] = []
        while index < len(lines) and _is_meta_line(lines[index]):
            meta.append(lines[index])
            index += 1
        try:
            listing.records.append(_record(title, abstract, meta, listing_date))
        except ValueError as error:
            listing.skipped.append(SkippedEntry(position, str(error), title[:80]))

    if _looks_truncated(lines):
        raise ListingParseError(
            "the listing looks cut off: its last entry has no author or date block"
        )
    return listing


def _find_header_date(lines: list[str], header_index: int) -> tuple[int, tuple[int, int]]:
    """The index of the first entry line and the (month, day) of the page's header date."""
    for index in range(header_index + 1, min(header_index + 4, len(lines))):
        match = _HEADER_DATE.match(lines[index])
        if match and match.group("month") in _MONTHS:
            return index + 1, (_MONTHS[match.group("month")], int(match.group("day")))
    raise ListingParseError("the Daily Papers listing has no date line (such as 'Nov 6')")


def _infer_listing_date(header: tuple[int, int], body: list[str]) -> date:
    years = [
        int(match.group("year"))
        for line in body
        if (match := _ENTRY_DATE.match(line)) and match.group("year")
    ]
    if not years:
        raise ListingParseError(
            "cannot tell the listing's year: no entry shows one; give the listing date"
        )
    month, day = header
    try:
        return date(max(years) + 1, month, day)
    except ValueError:
        raise ListingParseError(f"the listing date {month}/{day} is not a real date") from None


def _is_meta_line(line: str) -> bool:
    return line == _SEPARATOR or line.startswith("•") or bool(_ENTRY_DATE.match(line))


def _looks_truncated(lines: list[str]) -> bool:
    # A page cut mid-entry ends on a title or abstract, never on the date block that closes
    # every complete entry (entries without that block do occur, but not as the last line).
    return bool(lines) and not _is_meta_line(lines[-1])


def _record(title: str, abstract: str, meta: list[str], listing_date: date) -> PaperRecord:
    title = clean_text(title)
    if len(title) > _MAX_TITLE_LENGTH:
        raise ValueError(f"title is {len(title)} characters long; a title line was expected")
    if not abstract:
        raise ValueError("entry has a title but no abstract")

    authors: tuple[str, ...] = ()
    author_count: int | None = None
    published_on: date | None = None
    upvotes: int | None = None
    for line in meta:
        if match := _AUTHOR_COUNT.match(line):
            author_count = int(match.group("count"))
        elif match := _AUTHOR_NAMES.match(line):
            authors = tuple(
                name.strip() for name in match.group("names").split(",") if name.strip()
            )
        elif match := _ENTRY_DATE.match(line):
            published_on = _entry_date(match, listing_date)
            if match.group("upvotes"):
                upvotes = int(match.group("upvotes"))
    return PaperRecord(
        title=title,
        abstract=clean_text(abstract),
        authors=authors,
        author_count=author_count,
        published_on=published_on,
        featured_on=listing_date,
        upvotes=upvotes,
    )


def _entry_date(match: re.Match[str], listing_date: date) -> date:
    month_name = match.group("month")
    if month_name not in _MONTHS:
        raise ValueError(f"unknown month {month_name!r} in date line {match.group(0)!r}")
    month, day = _MONTHS[month_name], int(match.group("day"))
    year = int(match.group("year")) if match.group("year") else listing_date.year
    try:
        published = date(year, month, day)
    except ValueError:
        raise ValueError(f"date line {match.group(0)!r} is not a real date") from None
    if not match.group("year") and published > listing_date:
        # "Dec 30" on a January listing is last year's December.
        published = published.replace(year=year - 1)
    return published
