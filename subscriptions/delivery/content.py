"""What a digest shows: its papers' faces, its picks and its reader's topics, read in bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import NamedTuple

from django.db.models import TextField
from django.db.models.functions import Cast

from papers.models import Paper
from papers.selectors import day_note, day_notes, shown_topic_names
from subscriptions.delivery.selectors import followed_topic_names, in_id_range
from subscriptions.models import Digest, DigestItem


@dataclass(frozen=True, slots=True)
class PaperFace:
    """What a digest shows of a paper; a paper's fragments are cached under it, so any
    change to what is shown (a new title, more upvotes, other topics) fills them anew.

    A digest looks its fragments up 26 times: the hash is computed once, and ``paper_faces``
    hands out the face seen before when one is equal, so a look-up finds the very object
    rather than comparing every field."""

    pk: int
    title: str
    author_summary: str
    upvotes: int
    topics: tuple[str, ...]
    abstract: str
    summary: str  # the listing's one-line summary, or ""
    thumbnail_url: str
    arxiv_url: str
    pdf_url: str
    github_url: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shown = tuple(getattr(self, name) for name in _SHOWN_FIELDS)
        object.__setattr__(self, "_hash", hash(shown))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def of(cls, paper: Paper, topics: Iterable[str] | None = None) -> PaperFace:
        """The face of ``paper``, with ``topics`` or else its ``shown_tags``."""
        if topics is None:
            topics = [tag.topic.name for tag in getattr(paper, "shown_tags", ())]
        return cls(
            pk=paper.pk,
            title=paper.title,
            author_summary=paper.author_summary,
            upvotes=paper.upvotes,
            topics=tuple(topics)[:3],
            abstract=paper.abstract,
            summary=paper.summary,
            thumbnail_url=paper.thumbnail_url,
            arxiv_url=paper.arxiv_url,
            pdf_url=paper.pdf_url,
            github_url=paper.github_url,
        )


# What a face shows: the fields it is compared by, and hashed by.
_SHOWN_FIELDS = tuple(f.name for f in fields(PaperFace) if f.compare)

# Every face handed out, each under itself; emptied when it holds more than a few days' papers.
_faces: dict[PaperFace, PaperFace] = {}
_FACES_KEPT = 20_000


def forget_faces() -> None:
    """Forget every face handed out (equal faces are then no longer the same object)."""
    _faces.clear()


def _same_face(face: PaperFace) -> PaperFace:
    """The face equal to ``face`` handed out before, or ``face``."""
    if len(_faces) >= _FACES_KEPT:
        _faces.clear()
    return _faces.setdefault(face, face)


_FACE_FIELDS: tuple[str, ...] = ("pk", "title", "authors", "author_count", "upvotes", "abstract")
_FACE_FIELDS += ("summary", "arxiv_url", "pdf_url", "github_url", "thumbnail_url")


def paper_faces(paper_ids: set[int]) -> dict[int, PaperFace]:
    """The faces of many papers in two queries, read as values (a batch shows hundreds)."""
    topics = shown_topic_names(paper_ids)
    rows = Paper.objects.filter(pk__in=paper_ids).values(*_FACE_FIELDS)
    return {
        row["pk"]: _same_face(PaperFace.of(Paper(**row), topics.get(row["pk"], ()))) for row in rows
    }


class Pick(NamedTuple):
    """One paper of a digest, as rendering needs it."""

    section: str
    paper: PaperFace
    reasons: list[str]


def picks_of(items: Iterable[DigestItem]) -> list[Pick]:
    """``items`` (with their papers and shown tags loaded) as picks."""
    return [Pick(item.section, PaperFace.of(item.paper), item.reasons) for item in items]


class Content(NamedTuple):
    """What a digest shows: its picks, the names of the topics its reader follows, and the
    editors' note of its day ("" for none)."""

    picks: list[Pick]
    topics: list[str]
    note: str = ""

    @classmethod
    def of(cls, digest: Digest, items: Iterable[DigestItem] | None = None) -> Content:
        """From a digest and its ``items``, or else its own items (with their papers and
        shown tags loaded, as ``digests_with_content`` does)."""
        items = digest.items.all() if items is None else items
        topics = [topic.name for topic in digest.subscriber.topics.all()]
        return cls(picks_of(items), topics, day_note(day=digest.day))


def digest_contents(digests: Sequence[Digest]) -> dict[int, Content]:
    """What many digests show, in five queries, read as values; each paper's face is made
    once, every item's reasons are decoded from JSON in one call, and the editors' note is
    read once for the batch (a note written during a run shows from the next batch on)."""
    ids = [digest.pk for digest in digests]
    subscriber_ids = [digest.subscriber_id for digest in digests]
    rows = list(
        # The digest ids pick these digests within the range their subscribers span.
        DigestItem.objects.filter(**in_id_range(subscriber_ids), digest_id__in=ids)
        .order_by("digest_id", "section", "position")
        .values_list("digest_id", "section", "paper_id", Cast("reasons", TextField()))
    )
    reasons = json.loads(f"[{','.join(row[3] for row in rows)}]")
    faces = paper_faces({row[2] for row in rows})
    picks: dict[int, list[Pick]] = {digest_id: [] for digest_id in ids}
    for (digest_id, section, paper_id, _), why in zip(rows, reasons, strict=True):
        picks[digest_id].append(Pick(section, faces[paper_id], why))
    topics = followed_topic_names(subscriber_ids)
    notes = day_notes(days={digest.day for digest in digests})
    return {
        digest.pk: Content(
            picks[digest.pk], topics.get(digest.subscriber_id, []), notes.get(digest.day, "")
        )
        for digest in digests
    }
