"""Rendering emails: subject, text and HTML from ``templates/emails/<name>-*``, CSS inlined.

One helper renders any kind of email; each kind has a one-line wrapper that says which
template and context it uses (after healthchecks' ``emails.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import TextField
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from papers.models import Paper
from papers.selectors import shown_topic_names
from subscriptions.delivery.mime import Email
from subscriptions.delivery.selectors import followed_topic_names, in_id_range
from subscriptions.delivery.stencils import Stencil, slot
from subscriptions.models import Digest, DigestItem, Subscriber
from subscriptions.people.tokens import confirmation_token, manage_token

_STYLESHEET = Path(settings.BASE_DIR) / "templates" / "emails" / "email.css"


@lru_cache(maxsize=1)
def _inliner() -> css_inline.CSSInliner:
    # The shared stylesheet is read and parsed once per process, not once per email.
    return css_inline.CSSInliner(extra_css=_STYLESHEET.read_text(), load_remote_stylesheets=False)


def render(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text body, HTML body with CSS inlined) of the email ``name``.

    The subject is one line: every run of whitespace, line breaks included, becomes a space,
    so nothing a listing or a person wrote can add a header.
    """
    context = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
    text = render_to_string(f"emails/{name}-body.txt", context)
    html = _inliner().inline(render_to_string(f"emails/{name}-body.html", context))
    return subject, text, html


def message(
    name: str, *, to: str, context: dict[str, Any], headers: dict[str, str] | None = None
) -> EmailMultiAlternatives:
    """A ready-to-send email with both parts."""
    subject, text, html = render(name, context)
    return _email(subject=subject, text=text, html=html, to=to, headers=headers or {})


def _email(
    *, subject: str, text: str, html: str, to: str, headers: dict[str, str]
) -> EmailMultiAlternatives:
    email = Email(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to], headers=headers
    )
    email.attach_alternative(html, "text/html")
    return email


def absolute(path: str) -> str:
    """``path`` on this site as an absolute URL, for links in emails."""
    return f"{settings.SITE_URL}{path}"


def confirmation_email(subscriber: Subscriber) -> EmailMultiAlternatives:
    """Double opt-in. Holds no text a stranger typed except the address it goes to."""
    link = absolute(reverse("subscriptions:confirm", args=[confirmation_token(subscriber)]))
    return message("confirm", to=subscriber.email, context={"confirm_url": link})


def already_subscribed_email(subscriber: Subscriber) -> EmailMultiAlternatives:
    """Sent instead of a confirmation when the address is already subscribed."""
    link = absolute(reverse("subscriptions:preferences", args=[manage_token(subscriber)]))
    return message("already-subscribed", to=subscriber.email, context={"preferences_url": link})


_EXCERPT_CHARACTERS = 220


def excerpt(text: str, limit: int = _EXCERPT_CHARACTERS) -> str:
    """About two lines of an abstract, cut at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


# Digests. Each is assembled from stencils (see stencils.py): a shell per day and shape of
# digest, and a fragment per shape of paper, each rendered and CSS-inlined once per process;
# a paper's values are filled in once per paper, a reader's links and reasons per digest.


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
            arxiv_url=paper.arxiv_url,
            pdf_url=paper.pdf_url,
            github_url=paper.github_url,
        )


# What a face shows: the fields it is compared by, and hashed by.
_SHOWN_FIELDS = tuple(f.name for f in fields(PaperFace) if f.compare)

# Every face handed out, each under itself; emptied when it holds more than a few days' papers.
_faces: dict[PaperFace, PaperFace] = {}
_FACES_KEPT = 20_000


def _same_face(face: PaperFace) -> PaperFace:
    """The face equal to ``face`` handed out before, or ``face``."""
    if len(_faces) >= _FACES_KEPT:
        _faces.clear()
    return _faces.setdefault(face, face)


_FACE_FIELDS = ("pk", "title", "authors", "author_count", "upvotes", "abstract")
_FACE_FIELDS += ("arxiv_url", "pdf_url", "github_url")


def paper_faces(paper_ids: set[int]) -> dict[int, PaperFace]:
    """The faces of many papers in two queries, read as values (a batch shows hundreds)."""
    topics = shown_topic_names(paper_ids)
    rows = Paper.objects.filter(pk__in=paper_ids).values(*_FACE_FIELDS)
    return {
        row["pk"]: _same_face(PaperFace.of(Paper(**row), topics.get(row["pk"], ()))) for row in rows
    }


_CLASS = re.compile(r' class="[^"]*"')
_INDENT = re.compile(r"\n\s+")


def _lean(html: str) -> str:
    """Inlined HTML without what no longer serves: class attributes and indentation."""
    return _INDENT.sub("\n", _CLASS.sub("", html))


def _inline_fragment(html: str) -> str:
    return _lean(_inliner().inline_fragment(html, ""))


def _inline_document(html: str) -> str:
    return _lean(_inliner().inline(html))


# A paper's fragment has slots for what the reader gets (a number, reasons, feedback links).
_READER_SLOTS = ("number", "reasons", "more_url", "less_url")


@lru_cache(maxsize=8192)
def _paper_stencil(name: str, face: PaperFace, site_url: str, with_reasons: bool) -> Stencil:
    """The fragment ``name`` (paper or trending, .html or .txt) of one paper: the stencil of
    its shape with the paper's values filled in, the reader's slots left."""
    shape, values = _paper_values(face, site_url)
    return _shape_stencil(name, with_reasons, *shape).fill_some(values)


@lru_cache(maxsize=4096)
def _paper_values(face: PaperFace, site_url: str) -> tuple[tuple[bool | int, ...], dict[str, str]]:
    """A paper's shape (what it has to show) and values, made once for all its fragments
    (the dictionary is shared: read it, never change it)."""
    shape = (bool(face.upvotes), len(face.topics))
    shape += (bool(face.arxiv_url), bool(face.pdf_url), bool(face.github_url))
    values = {
        "title": face.title,
        "author_summary": face.author_summary,
        "upvotes": str(face.upvotes),
        **{f"topic{index}": topic for index, topic in enumerate(face.topics)},
        "excerpt": excerpt(face.abstract),
        "url": _paper_link(site_url, face.pk),
        "arxiv_url": face.arxiv_url,
        "pdf_url": face.pdf_url,
        "github_url": face.github_url,
    }
    return shape, values


@lru_cache(maxsize=512)  # every combination of the arguments
def _shape_stencil(
    name: str,
    with_reasons: bool,
    has_upvotes: bool,
    topics: int,
    has_arxiv: bool,
    has_pdf: bool,
    has_github: bool,
) -> Stencil:
    """The fragment ``name`` for every paper of one shape (what it has to show), with a slot
    for each of the paper's values too: rendered and CSS-inlined once per process, not once
    per paper (the styles do not depend on the text)."""
    html = name.endswith(".html")
    present = {
        "upvotes": has_upvotes,
        "arxiv_url": has_arxiv,
        "pdf_url": has_pdf,
        "github_url": has_github,
    }
    context = {"has_reasons": with_reasons, "topics": [slot(f"topic{n}") for n in range(topics)]}
    return Stencil.render(
        f"emails/digest/{name}",
        context,
        slots=(
            "title",
            "author_summary",
            "excerpt",
            "url",
            *[value for value, shown in present.items() if shown],
            *_READER_SLOTS,
        ),
        html=html,
        postprocess=_inline_fragment if html else None,
    )


@lru_cache(maxsize=64)
def _shell_stencil(
    name: str, day: date, site_url: str, has_for_you: bool, has_trending: bool
) -> Stencil:
    """The digest around its papers (shell.html or shell.txt) for one day and shape."""
    html = name.endswith(".html")
    context = {"day": day, "has_for_you": has_for_you, "has_trending": has_trending}
    return Stencil.render(
        f"emails/digest/{name}",
        context,
        slots=(
            "view_url",
            "for_you",
            "trending",
            "interests",
            "preferences_url",
            "unsubscribe_url",
        ),
        html=html,
        postprocess=_inline_document if html else None,
    )


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    text: str
    html: str


def interests_phrase(topics: list[str], keywords: list[str]) -> str:
    """ " for Vision and robotics and LoRA, diffusion": what the reader subscribed for."""
    phrase = ""
    if topics:
        phrase = f" for {', '.join(topics)}"
    if keywords:
        phrase += f"{' and' if topics else ' for'} {', '.join(keywords)}"
    return phrase


def digest_subject(day: date, for_you_titles: list[str]) -> str:
    """The first pick's title and how many more, on one line."""
    if for_you_titles:
        lead = _short_title(for_you_titles[0])
        if len(for_you_titles) > 1:
            lead += f" and {len(for_you_titles) - 1} more"
    else:
        lead = "Nothing new in your topics"
    return f"{lead} · Paper Digest {_short_day(day)}"


# Many readers share a first pick and every one a day: each is formatted once.
@lru_cache(maxsize=4096)
def _short_title(title: str) -> str:
    return " ".join(Truncator(title).chars(70).split())


@lru_cache(maxsize=64)
def _short_day(day: date) -> str:
    return date_format(day, "M j")


class Pick(NamedTuple):
    """One paper of a digest, as rendering needs it."""

    section: str
    paper: PaperFace
    reasons: list[str]


def picks_of(items: Iterable[DigestItem]) -> list[Pick]:
    """``items`` (with their papers and shown tags loaded) as picks."""
    return [Pick(item.section, PaperFace.of(item.paper), item.reasons) for item in items]


class Content(NamedTuple):
    """What a digest shows: its picks, and the names of the topics its reader follows."""

    picks: list[Pick]
    topics: list[str]

    @classmethod
    def of(cls, digest: Digest, items: Iterable[DigestItem] | None = None) -> Content:
        """From a digest and its ``items``, or else its own items (with their papers and
        shown tags loaded, as ``digests_with_content`` does)."""
        items = digest.items.all() if items is None else items
        return cls(picks_of(items), [topic.name for topic in digest.subscriber.topics.all()])


def digest_contents(digests: Sequence[Digest]) -> dict[int, Content]:
    """What many digests show, in four queries, read as values; each paper's face is made
    once, and every item's reasons are decoded from JSON in one call."""
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
    return {
        digest.pk: Content(picks[digest.pk], topics.get(digest.subscriber_id, []))
        for digest in digests
    }


# Links are reversed once per site and name, with stand-ins for their arguments, then joined
# per reader: reverse() costs more than all the rest of a digest's links.
@lru_cache(maxsize=64)
def _link_parts(site_url: str, name: str, *stand_ins: object) -> list[str]:
    pieces = [f"{site_url}{reverse(name, args=stand_ins)}"]
    for stand_in in stand_ins:
        before, after = pieces.pop().split(str(stand_in))
        pieces += [before, after]
    return pieces


def _link(name: str, token: str) -> str:
    before, after = _link_parts(settings.SITE_URL, name, "TOKEN")
    return f"{before}{token}{after}"


def _paper_link(site_url: str, paper_id: int) -> str:
    before, after = _link_parts(site_url, "papers:detail", 999999999)
    return f"{before}{paper_id}{after}"


def _view_link(token: str, digest_id: int) -> str:
    parts = _link_parts(settings.SITE_URL, "subscriptions:view_digest", "TOKEN", 999999999)
    before, middle, after = parts
    return f"{before}{token}{middle}{digest_id}{after}"


def render_digest(digest: Digest, content: Content | None = None) -> RenderedDigest:
    """Subject, text and HTML of a digest, for the email and the "view in browser" page.

    Without ``content``, it is read from the digest (see ``Content.of``).
    """
    return _render_digest(digest, content, manage_token(digest.subscriber))


def _render_digest(digest: Digest, content: Content | None, token: str) -> RenderedDigest:
    picks, topics = content or Content.of(digest)
    site_url = settings.SITE_URL
    feedback = _link("subscriptions:feedback", token)
    for_you, trending = DigestItem.Section.FOR_YOU, DigestItem.Section.TRENDING
    html: dict[str, list[str]] = {for_you: [], trending: []}
    text: dict[str, list[str]] = {for_you: [], trending: []}
    titles = []
    for section, face, reasons in picks:
        kind = "paper" if section == for_you else "trending"
        with_reasons = kind == "paper" and bool(reasons)
        values = {
            "more_url": f"{feedback}?paper={face.pk}&signal=more",
            "less_url": f"{feedback}?paper={face.pk}&signal=less",
        }
        if kind == "paper":
            titles.append(face.title)
            values["number"] = str(len(titles))
        values["reasons"] = " · ".join(reasons)
        html[section].append(
            _paper_stencil(f"{kind}.html", face, site_url, with_reasons).fill(values)
        )
        values["reasons"] = "; ".join(reasons)
        text[section].append(
            _paper_stencil(f"{kind}.txt", face, site_url, with_reasons).fill(values)
        )
    subscriber = digest.subscriber
    shape = (digest.day, site_url, bool(html[for_you]), bool(html[trending]))
    values = {
        "view_url": _view_link(token, digest.pk or 0),
        "interests": interests_phrase(topics, subscriber.keywords),
        "preferences_url": _link("subscriptions:preferences", token),
        "unsubscribe_url": _link("subscriptions:unsubscribe", token),
    }
    return RenderedDigest(
        subject=digest_subject(digest.day, titles),
        text=_shell_stencil("shell.txt", *shape).fill(
            {**values, "for_you": "".join(text[for_you]), "trending": "".join(text[trending])}
        ),
        html=_shell_stencil("shell.html", *shape).fill(
            {
                **values,
                "for_you": mark_safe("".join(html[for_you])),
                "trending": mark_safe("".join(html[trending])),
            }
        ),
    )


def digest_email(
    digest: Digest, content: Content | None = None, *, to: str | None = None
) -> EmailMultiAlternatives:
    """A subscriber's digest, with one-click unsubscribe and list headers.

    ``content`` as ``render_digest`` takes it; ``to`` serves the admin's test send.
    """
    token = manage_token(digest.subscriber)
    rendered = _render_digest(digest, content, token)
    one_click = _link("subscriptions:one_click_unsubscribe", token)
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    headers = {
        "List-Unsubscribe": f"<{one_click}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": settings.DIGEST_LIST_ID,
    }
    subject = rendered.subject
    if to is None:
        # The same id on every attempt, so an ESP that deduplicates can do so.
        headers["Message-ID"] = f"<digest-{digest.pk}-{digest.period}@{domain}>"
    else:
        subject = f"[TEST] {subject}"
    email = _email(
        subject=subject,
        text=rendered.text,
        html=rendered.html,
        to=to or digest.subscriber.email,
        headers=headers,
    )
    if settings.DIGEST_REPLY_TO:
        email.reply_to = [settings.DIGEST_REPLY_TO]
    return email
