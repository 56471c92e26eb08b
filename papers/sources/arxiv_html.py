"""Parser for arXiv's daily listing pages (``https://arxiv.org/list/<category>/new``).

The page is a series of ``dl`` sections (new submissions, cross-lists, replacements), each a
run of ``dt`` (identifier and links) / ``dd`` (title, authors, subjects, abstract) pairs.
"""

from __future__ import annotations

import re
from datetime import date

from bs4 import BeautifulSoup, Tag
from bs4.exceptions import ParserRejectedMarkup

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

FORMAT = "arxiv-html"
EXCERPT_LENGTH = 80
_LISTING_DATE = re.compile(
    r"Showing new listings for\s+(?:[A-Za-z]+,\s+)?(\d{1,2})\s+([A-Za-z]+)\s+(\d{4})"
)
# Our own table rather than strptime("%B"), which follows the process locale.
_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
}
# "Machine Learning (cs.LG)", "Optimization and Control (math.OC)", "Quantum Physics (quant-ph)"
_SUBJECT_CODE = re.compile(r"\(([a-z][a-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?)\)")
# "New submissions (showing 4 of 4 entries)": the first number is what this page shows.
_SHOWING = re.compile(r"\(showing (?:first )?(\d{1,6}) of \d+ entries\)", re.IGNORECASE)
_ABS_PREFIX = re.compile(r"^\s*arXiv:\s*", re.IGNORECASE)


def looks_like_arxiv_html(glance: Glance) -> bool:
    """Whether the document is an HTML page with the marks of an arXiv listing page."""
    return glance.is_html_page and (
        'class="list-title' in glance.text
        or "arxiv.org" in glance.lowered
        or "/list/" in glance.text
    )


def parse_arxiv_html(text: str) -> ParsedListing:
    """Read an arXiv "new" listing page.

    Promises: returns a ``ParsedListing`` (format "arxiv-html") with one record per ``dt``/
    ``dd`` pair that has a title, new submissions, cross-lists and replacements alike, in page
    order, and one ``SkippedEntry`` per pair that has none. ``listing_date`` (and every
    record's ``featured_on``) comes from the "Showing new listings for ..." heading, None if
    the page has none. The page does not give publication dates, so ``published_on`` is
    None. Raises only ``ListingParseError``: when the text is not HTML, holds no arXiv
    entries at all, is cut off before ``</html>``, or holds fewer entries than its section
    headings announce.
    """
    soup = _soup(text)
    listing_date = _listing_date(soup)
    terms = [dt for dt in soup.find_all("dt") if dt.find_parent("dl") is not None]
    listing = ParsedListing(format=FORMAT, listing_date=listing_date)
    saw_arxiv_entry = False
    for position, dt in enumerate(terms, start=1):
        arxiv_id = _arxiv_id(dt)
        saw_arxiv_entry = saw_arxiv_entry or bool(arxiv_id)
        result = _entry_record(dt, arxiv_id, position, listing_date)
        if isinstance(result, SkippedEntry):
            listing.skipped.append(result)
        else:
            listing.records.append(result)
    # A page whose dl/dt pairs are not arXiv entries (a glossary, an error page) is not a
    # listing with every entry broken, it is the wrong page.
    if not listing.records and not saw_arxiv_entry:
        raise ListingParseError(
            f"no paper entries found: not an arXiv listing page{_title_hint(soup)}"
        )
    # lxml quietly closes whatever a cut-off download left open, so a page cut between two
    # sections would pass for a short listing; arXiv always sends the closing tag.
    if "</html" not in text[-4096:].lower():
        raise ListingParseError("the page ends without </html> (truncated download?)")
    # Entries the markup no longer lets us find would otherwise vanish without a trace.
    announced = _announced_entry_count(soup)
    if announced is not None and len(terms) < announced:
        raise ListingParseError(
            f"the page announces {announced} entries but only {len(terms)} were found"
        )
    return listing


def _soup(text: str) -> BeautifulSoup:
    # Checked before BeautifulSoup sees the text, because it warns (rather than fails) on
    # input that looks like a file name, a URL or an XML document.
    stripped = text.strip()
    if not stripped:
        raise ListingParseError("empty document: expected an arXiv listing page")
    if "<" not in stripped:
        raise ListingParseError("not an HTML document: no markup at all")
    head = stripped[:500].lower()
    if head.startswith("<?xml") and "html" not in head:
        raise ListingParseError("expected an arXiv listing page, got an XML document")
    try:
        return BeautifulSoup(without_surrogates(text), "lxml")
    except ParserRejectedMarkup as exc:
        raise ListingParseError(f"unreadable HTML: {exc}") from exc


def _listing_date(soup: BeautifulSoup) -> date | None:
    for heading in soup.find_all("h3"):
        match = _LISTING_DATE.search(clean_text(heading.get_text(" ")))
        if not match:
            continue
        day, month_name, year = match.groups()
        month = _MONTHS.get(month_name.lower())
        if month is None:
            continue
        try:
            return date(int(year), month, int(day))
        except ValueError:
            continue
    return None


def _announced_entry_count(soup: BeautifulSoup) -> int | None:
    counts = [
        int(match.group(1))
        for heading in soup.find_all("h3")
        if (match := _SHOWING.search(clean_text(heading.get_text(" "))))
    ]
    return sum(counts) if counts else None


def _arxiv_id(dt: Tag) -> str:
    link = dt.find("a", attrs={"title": "Abstract"})
    if link is None:
        link = dt.find("a", href=re.compile(r"/abs/"))
    if link is None:
        return ""
    href = link.get("href")
    href = href if isinstance(href, str) else ""
    element_id = link.get("id")
    element_id = element_id if isinstance(element_id, str) else ""
    # The link's id and text are bare identifiers; the href is relative ("/abs/2511.01234"),
    # which normalise_arxiv_id only recognises once made absolute.
    for candidate in (
        element_id,
        _ABS_PREFIX.sub("", link.get_text()),
        "https://arxiv.org" + href if href.startswith("/") else href,
    ):
        arxiv_id = normalise_arxiv_id(clean_text(candidate))
        if arxiv_id:
            return arxiv_id
    return ""


def _entry_record(
    dt: Tag, arxiv_id: str, position: int, listing_date: date | None
) -> PaperRecord | SkippedEntry:
    dd = dt.find_next_sibling(["dd", "dt"])
    if dd is None or dd.name != "dd":
        return SkippedEntry(position, "entry has no details (dd)", arxiv_id)
    title = _field_text(dd, "list-title")
    if not title:
        return SkippedEntry(position, "entry has no title", arxiv_id)

    abstract_element = dd.find("p", class_="mathjax")
    arxiv_url, pdf_url = arxiv_links(arxiv_id)
    return PaperRecord(
        title=title,
        abstract=clean_text(abstract_element.get_text()) if abstract_element else "",
        arxiv_id=arxiv_id,
        authors=_authors(dd),
        featured_on=listing_date,
        arxiv_url=arxiv_url,
        pdf_url=pdf_url,
        categories=_categories(dd),
    )


def _field(dd: Tag, css_class: str) -> Tag | None:
    return dd.find("div", class_=css_class)


def _field_text(dd: Tag, css_class: str) -> str:
    """The field's text without its "Title:" / "Authors:" descriptor."""
    element = _field(dd, css_class)
    if element is None:
        return ""
    parts = [
        piece
        for piece in element.find_all(string=True)
        if not (
            isinstance(piece.parent, Tag)
            and "descriptor" in piece.parent.get_attribute_list("class")
        )
    ]
    return clean_text("".join(parts))


def _authors(dd: Tag) -> tuple[str, ...]:
    element = _field(dd, "list-authors")
    if element is None:
        return ()
    names = [clean_text(link.get_text()) for link in element.find_all("a")]
    if not names:
        names = [clean_text(name) for name in _field_text(dd, "list-authors").split(",")]
    return tuple(name for name in names if name)


def _categories(dd: Tag) -> tuple[str, ...]:
    element = _field(dd, "list-subjects")
    if element is None:
        return ()
    primary = element.find("span", class_="primary-subject")
    # The primary subject is listed first anyway; the span just makes it explicit.
    text = (primary.get_text() + " ; " if primary else "") + element.get_text(" ")
    return tuple(dict.fromkeys(_SUBJECT_CODE.findall(text)))


def _title_hint(soup: BeautifulSoup) -> str:
    title = clean_text(soup.title.get_text()) if soup.title else ""
    return f" (page title: {title[:80]!r})" if title else ""
