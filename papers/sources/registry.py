"""The one list of listing sources and formats; every list of names or choices derives from it.

A format is a parser module (its ``FORMAT`` name, ``parse_*`` and ``looks_like_*``) plus one
``Format`` line in ``LISTING_FORMATS``; a source is one ``Source`` line in ``LISTING_SOURCES``
(and, to be fetched by name, its address in ``papers/fetch.py``). The format names, the
detection order, the parser dispatch, the source names and the choices of the model, the
admin and ``manage.py ingest`` all come from here. Pure data: no ORM, no HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from . import arxiv_atom, arxiv_html, hf_html, hf_json, seed
from .records import Glance, ListingParseError, ParsedListing


@dataclass(frozen=True, slots=True)
class Source:
    """A site papers are listed on."""

    # Stored in PaperSource.source for every paper seen there: never rename one.
    name: str
    label: str
    # arXiv lists each category on its own page; Hugging Face has one list a day.
    per_category: bool


@dataclass(frozen=True, slots=True)
class Format:
    """A kind of listing document: which source sends it, how to recognise it, how to read it."""

    # Stored in IngestRun.format and given to ``ingest --format``.
    name: str
    source: Source
    parser: Callable[..., ParsedListing]
    looks_like: Callable[[Glance], bool]
    # The seed text gives day and month but no year: its parser needs the listing's date.
    takes_listing_date: bool = False

    def parse(self, text: str, *, listing_date: date | None = None) -> ParsedListing:
        """``text`` read by this format's parser; raises ``ListingParseError`` only."""
        if self.takes_listing_date:
            return self.parser(text, listing_date=listing_date)
        return self.parser(text)


HUGGING_FACE = Source(name="hf", label="Hugging Face Daily Papers", per_category=False)
ARXIV = Source(name="arxiv", label="arXiv", per_category=True)

LISTING_SOURCES: tuple[Source, ...] = (HUGGING_FACE, ARXIV)

# In detection order: a document is of the first format whose ``looks_like`` accepts it.
# JSON and Atom are told by their first characters, so they go before the HTML pages, whose
# markers are searched for in the whole text; the seed text, the least marked, comes last.
LISTING_FORMATS: tuple[Format, ...] = (
    Format(
        name=hf_json.FORMAT,
        source=HUGGING_FACE,
        parser=hf_json.parse_hf_json,
        looks_like=hf_json.looks_like_hf_json,
    ),
    Format(
        name=arxiv_atom.FORMAT,
        source=ARXIV,
        parser=arxiv_atom.parse_arxiv_atom,
        looks_like=arxiv_atom.looks_like_arxiv_atom,
    ),
    Format(
        name=hf_html.FORMAT,
        source=HUGGING_FACE,
        parser=hf_html.parse_hf_html,
        looks_like=hf_html.looks_like_hf_html,
    ),
    Format(
        name=arxiv_html.FORMAT,
        source=ARXIV,
        parser=arxiv_html.parse_arxiv_html,
        looks_like=arxiv_html.looks_like_arxiv_html,
    ),
    Format(
        name=seed.FORMAT,
        source=HUGGING_FACE,
        parser=seed.parse_seed,
        looks_like=seed.looks_like_seed,
        takes_listing_date=True,
    ),
)

FORMATS: tuple[str, ...] = tuple(listing_format.name for listing_format in LISTING_FORMATS)
SOURCE_NAMES: tuple[str, ...] = tuple(source.name for source in LISTING_SOURCES)

_FORMATS_BY_NAME = {listing_format.name: listing_format for listing_format in LISTING_FORMATS}
_SOURCES_BY_NAME = {source.name: source for source in LISTING_SOURCES}


def format_named(name: str) -> Format:
    """The registered format called ``name``; ``ListingParseError`` naming the known ones if
    there is none (so a listing of an unknown format is refused, never given a source)."""
    try:
        return _FORMATS_BY_NAME[name]
    except KeyError:
        raise ListingParseError(
            f"unknown format {name!r}; expected one of {', '.join(FORMATS)}"
        ) from None


def source_named(name: str) -> Source:
    """The registered source called ``name``; ``LookupError`` naming the known ones if none."""
    try:
        return _SOURCES_BY_NAME[name]
    except KeyError:
        raise LookupError(
            f"unknown source {name!r}; expected one of {', '.join(SOURCE_NAMES)}"
        ) from None


def source_choices() -> list[tuple[str, str]]:
    """``(name, label)`` of every source, in registry order: the choices wherever one is picked.

    A callable, so the model field that uses it needs no migration when a source is added.
    """
    return [(source.name, source.label) for source in LISTING_SOURCES]
