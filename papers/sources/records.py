"""The shapes every listing parser returns, and the one error type parsers may raise.

Parsers (the other modules in this package) are pure: text in, a ``ParsedListing`` out.
They know nothing of the ORM or of HTTP, so they can be tested with a string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date


class ListingParseError(ValueError):
    """The document is not a listing we can read (wrong format, truncated, an error page...).

    The message says what was wrong; the caller adds which source it came from.
    """


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """One paper as a listing describes it. Empty string / None mean "the listing did not say"."""

    title: str
    abstract: str = ""
    # A one-line summary the listing gives (Hugging Face's AI summary), not the abstract's.
    summary: str = ""
    arxiv_id: str = ""
    authors: tuple[str, ...] = ()
    # Set when the listing shows only "N authors"; otherwise len(authors) is the count.
    author_count: int | None = None
    published_on: date | None = None
    featured_on: date | None = None
    upvotes: int | None = None
    comment_count: int | None = None
    arxiv_url: str = ""
    pdf_url: str = ""
    hf_url: str = ""
    github_url: str = ""
    github_stars: int | None = None
    project_url: str = ""
    thumbnail_url: str = ""
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """An entry inside an otherwise good listing that could not be read, and why."""

    position: int
    reason: str
    excerpt: str = ""


@dataclass(slots=True)
class ParsedListing:
    """Everything a parser got out of one document."""

    format: str
    listing_date: date | None = None
    records: list[PaperRecord] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)


_GLANCE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Glance:
    """What format detection looks at, computed once per document.

    ``head`` is the start of the text (after any byte-order mark and leading whitespace),
    ``lowered`` the same in lower case; ``text`` is all of it, for the few markers that can
    sit anywhere in a large page.
    """

    text: str
    head: str
    lowered: str
    is_html_page: bool

    @classmethod
    def of(cls, text: str) -> Glance:
        """The glance at ``text`` every format's ``looks_like`` predicate is given."""
        head = text.lstrip("\ufeff \t\r\n")[:_GLANCE_LENGTH]
        lowered = head.lower()
        is_html_page = "<" in head[:200] and ("<html" in lowered or "<!doctype" in lowered)
        return cls(text=text, head=head, lowered=lowered, is_html_page=is_html_page)


_WHITESPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.\-]*/\d{7})(?:v\d+)?$", re.IGNORECASE)
_ARXIV_IN_URL = re.compile(
    r"arxiv\.org/(?:abs|pdf|html)/([a-z][a-z.\-]*/\d{7}|\d{4}\.\d{4,5})(?:v\d+)?", re.IGNORECASE
)


def clean_text(value: str | None) -> str:
    """Collapse every run of whitespace (hard line breaks included) to one space and trim."""
    if not value:
        return ""
    return _WHITESPACE.sub(" ", value).strip()


def normalise_title(title: str) -> str:
    """A key under which two spellings of the same title compare equal.

    Case, accents, punctuation and spacing are ignored: "Face-Recognition: A Survey" and
    "face recognition a survey" give the same key.
    """
    decomposed = unicodedata.normalize("NFKD", title)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", without_marks.casefold()).strip()


def normalise_arxiv_id(value: str | None) -> str:
    """The bare arXiv identifier ("2202.12139", "hep-th/9901001") of an id or URL, or "".

    The version suffix is dropped: every version of a paper is the same paper to a reader.
    """
    if not value:
        return ""
    value = value.strip()
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        match = pattern.match(value)
        if match:
            return match.group(1)
    match = _ARXIV_IN_URL.search(value)
    return match.group(1) if match else ""


def arxiv_links(arxiv_id: str) -> tuple[str, str]:
    """The canonical abstract and PDF URLs of an arXiv id ("", "" when there is no id)."""
    if not arxiv_id:
        return "", ""
    return f"https://arxiv.org/abs/{arxiv_id}", f"https://arxiv.org/pdf/{arxiv_id}"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(value: str) -> str:
    """``value`` with every unpaired UTF-16 surrogate replaced by U+FFFD.

    They reach us from JSON escapes of half an emoji ("\\ud83d") or from bytes decoded with
    ``surrogateescape``; the HTML parser and the database cannot encode them.
    """
    return _LONE_SURROGATE.sub("\ufffd", value)
