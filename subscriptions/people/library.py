"""A reader's reading list: the papers they saved from a digest or the site, and its exports
(BibTeX for a reference manager, a CSV of arXiv ids for scripts)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from django.contrib.sessions.backends.base import SessionBase
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from papers.models import Paper
from subscriptions.models import SavedPaper, Subscriber

# A reader who came to the site from their email (a save, feedback or "view in browser"
# link, or a paper's link) is remembered in their session by the token of that link's kind,
# so the site can offer "Save" beside each paper. Only a link from their email sets it.
_READER_TOKEN = "reader_feedback_token"


def remember_reader(session: SessionBase, *, feedback_token: str) -> None:
    """Remember in ``session`` the reader whose feedback token this is (already verified)."""
    if session.get(_READER_TOKEN) != feedback_token:
        session[_READER_TOKEN] = feedback_token


def remembered_reader(session: SessionBase) -> str:
    """The feedback token remembered by ``remember_reader``, or ""."""
    token = session.get(_READER_TOKEN, "")
    return token if isinstance(token, str) else ""


def save_paper(*, subscriber: Subscriber, paper_id: int) -> bool:
    """Put the paper on the reader's reading list; True if it was not on it yet (saving
    twice keeps one entry, dated the first time)."""
    try:
        with transaction.atomic():
            _, created = SavedPaper.objects.get_or_create(subscriber=subscriber, paper_id=paper_id)
    except IntegrityError:  # the same save, at the same moment, from another request
        return False
    return created


def remove_saved_paper(*, subscriber: Subscriber, paper_id: int) -> bool:
    """Take the paper off the reader's reading list; True if it was on it."""
    deleted, _ = SavedPaper.objects.filter(subscriber=subscriber, paper_id=paper_id).delete()
    return bool(deleted)


def reading_list(*, subscriber: Subscriber) -> QuerySet[SavedPaper]:
    """The reader's saved papers, the latest saved first, each with its paper loaded."""
    return (
        SavedPaper.objects.filter(subscriber=subscriber)
        .select_related("paper")
        .order_by("-saved_at", "-pk")
    )


# What BibTeX (and LaTeX behind it) reads as markup in a field's text.
_LATEX_SPECIAL = re.compile(r"([\\{}%&#$_^~])")
_LATEX_ESCAPE = {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}"}


def _bibtex_text(text: str) -> str:
    """``text`` as the inside of a braced BibTeX field: LaTeX's special characters escaped,
    so braces stay balanced whatever a listing wrote, on one line."""
    text = " ".join(text.split())
    return _LATEX_SPECIAL.sub(lambda m: _LATEX_ESCAPE.get(m[1], "\\" + m[1]), text)


def _bibtex_key(paper: Paper, taken: set[str]) -> str:
    """A citation key unique in the file: ``arxiv:<id>``, else ``paper:<pk>``."""
    key = f"arxiv:{paper.arxiv_id}" if paper.arxiv_id else f"paper:{paper.pk}"
    key = re.sub(r"[^\w:.\-/]", "", key)
    while key in taken:
        key += "x"
    taken.add(key)
    return key


def bibtex_of(papers: Sequence[Paper]) -> str:
    """The papers as BibTeX ``@misc`` entries, in order, with arXiv's eprint fields where
    the paper has an arXiv id."""
    taken: set[str] = set()
    entries = []
    for paper in papers:
        fields = [("title", paper.title)]
        if paper.authors:
            fields.append(("author", " and ".join(paper.authors)))
        day = paper.published_on or paper.featured_on
        if day:
            fields.append(("year", str(day.year)))
        if paper.arxiv_id:
            fields += [("eprint", paper.arxiv_id), ("archivePrefix", "arXiv")]
            if paper.categories:
                fields.append(("primaryClass", str(paper.categories[0])))
        url = paper.arxiv_url or paper.hf_url
        if url:
            fields.append(("url", url))
        body = ",\n".join(f"  {name} = {{{_bibtex_text(value)}}}" for name, value in fields)
        entries.append(f"@misc{{{_bibtex_key(paper, taken)},\n{body}\n}}\n")
    return "\n".join(entries)


def arxiv_ids_csv(papers: Sequence[Paper]) -> str:
    """A CSV with a header and one row per paper that has an arXiv id: the id and the title."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arxiv_id", "title"])
    for paper in papers:
        if paper.arxiv_id:
            # A title starting with = + - @ would be a formula to a spreadsheet.
            title = paper.title
            writer.writerow([paper.arxiv_id, "'" + title if title[:1] in "=+-@" else title])
    return out.getvalue()
