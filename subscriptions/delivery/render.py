"""Rendering digests from stencils, and the digest email with its list headers.

Each digest is assembled from stencils (see ``stencils.py``): a shell per day and shape of
digest, and a fragment per shape of paper, each rendered and CSS-inlined once per process;
a paper's values are filled in once per paper, a reader's links and reasons per digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from html import escape as escape_html
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from papers.text import one_line_summary
from subscriptions.delivery.content import Content, PaperFace
from subscriptions.delivery.links import (
    DigestLinks,
    inert_links,
    link_parts,
    reader_links,
)
from subscriptions.delivery.settling import digest_metadata
from subscriptions.delivery.stencils import Stencil, slot
from subscriptions.emails import email_of, inliner, media_query_classes
from subscriptions.models import Digest, DigestItem, Subscriber
from subscriptions.people.tokens import click_signer

_CLASS = re.compile(r' class="([^"]*)"')
_INDENT = re.compile(r"\n\s+")


def _kept_classes(match: re.Match[str]) -> str:
    kept = [name for name in match[1].split() if name in media_query_classes()]
    return f' class="{" ".join(kept)}"' if kept else ""


def _lean(html: str) -> str:
    """Inlined HTML without what no longer serves: indentation, and the classes that the
    media queries (kept in ``<head>``) do not select."""
    return _INDENT.sub("\n", _CLASS.sub(_kept_classes, html))


def _inline_fragment(html: str) -> str:
    return _lean(inliner().inline_fragment(html, ""))


def _inline_document(html: str) -> str:
    return _lean(inliner().inline(html))


# A paper's fragment has slots for what the reader gets (a number, reasons, feedback and save
# links, and the paper's own link: through the counting redirect, or direct).
_READER_SLOTS = ("number", "reasons", "more_url", "less_url", "save_url", "url")


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
    shape: tuple[bool | int, ...] = (bool(face.upvotes), len(face.topics))
    shape += (bool(face.arxiv_url), bool(face.pdf_url), bool(face.github_url))
    # Made here, once per face, not each time a batch reads the paper.
    line = one_line_summary(summary=face.summary, abstract=face.abstract)
    shape += (bool(line), bool(face.thumbnail_url))
    values = {
        "title": face.title,
        "author_summary": face.author_summary,
        "upvotes": str(face.upvotes),
        **{f"topic{index}": topic for index, topic in enumerate(face.topics)},
        "summary": line,
        "thumbnail_url": face.thumbnail_url,
        "arxiv_url": face.arxiv_url,
        "pdf_url": face.pdf_url,
        "github_url": face.github_url,
    }
    return shape, values


@lru_cache(maxsize=2048)  # every combination of the arguments
def _shape_stencil(
    name: str,
    with_reasons: bool,
    has_upvotes: bool,
    topics: int,
    has_arxiv: bool,
    has_pdf: bool,
    has_github: bool,
    has_summary: bool,
    has_thumbnail: bool,
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
        "summary": has_summary,
        "thumbnail_url": has_thumbnail,
    }
    context = {"has_reasons": with_reasons, "topics": [slot(f"topic{n}") for n in range(topics)]}
    return Stencil.render(
        f"emails/digest/{name}",
        context,
        slots=(
            "title",
            "author_summary",
            *[value for value, shown in present.items() if shown],
            *_READER_SLOTS,
        ),
        html=html,
        postprocess=_inline_fragment if html else None,
    )


@lru_cache(maxsize=64)
def _shell_stencil(
    name: str,
    day: date,
    site_url: str,
    has_for_you: bool,
    has_trending: bool,
    weekly: bool = False,
    note: str = "",
) -> Stencil:
    """The digest around its papers (shell.html or shell.txt) for one day, shape and
    editors' note (a note edited during the day makes a new shell); a weekly digest speaks
    of its week (the seven days up to ``day``)."""
    html = name.endswith(".html")
    context = {
        "day": day,
        "week_start": day - timedelta(days=6),
        "weekly": weekly,
        "has_for_you": has_for_you,
        "has_trending": has_trending,
        "note": note,
    }
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


def forget_stencils() -> None:
    """Forget every rendered fragment and shell, and the short titles and days of subjects."""
    for cache in (_paper_stencil, _paper_values, _shape_stencil, _shell_stencil, _short_title):
        cache.cache_clear()
    _short_day.cache_clear()
    _short_week.cache_clear()


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


def digest_subject(day: date, for_you_titles: list[str], *, weekly: bool = False) -> str:
    """The first pick's title and how many more, on one line, with the day (or, weekly,
    the week's dates: the seven days up to ``day``)."""
    if for_you_titles:
        lead = _short_title(for_you_titles[0])
        if len(for_you_titles) > 1:
            lead += f" and {len(for_you_titles) - 1} more"
    else:
        lead = f"Nothing new in your topics{' this week' if weekly else ''}"
    return f"{lead} · Paper Digest {_short_week(day) if weekly else _short_day(day)}"


# Many readers share a first pick and every one a day: each is formatted once.
@lru_cache(maxsize=4096)
def _short_title(title: str) -> str:
    return " ".join(Truncator(title).chars(70).split())


@lru_cache(maxsize=64)
def _short_day(day: date) -> str:
    return date_format(day, "M j")


_EN_DASH = "\u2013"  # between the dates of a range, as typesetting has it


@lru_cache(maxsize=64)
def _short_week(day: date) -> str:
    """ "Nov 4-10", or "Oct 29 - Nov 4" across months (with en dashes): the seven days up
    to ``day``."""
    start = day - timedelta(days=6)
    if start.month == day.month:
        return f"{_short_day(start)}{_EN_DASH}{day.day}"
    return f"{_short_day(start)} {_EN_DASH} {_short_day(day)}"


def render_digest(
    digest: Digest, content: Content | None = None, *, links: DigestLinks | None = None
) -> RenderedDigest:
    """Subject, text and HTML of a digest, for the email and the "view in browser" page.

    Without ``content``, it is read from the digest (see ``Content.of``); without ``links``,
    the reader's own are made (``reader_links``).
    """
    return _render_digest(digest, content, links or reader_links(digest))


def _render_digest(digest: Digest, content: Content | None, links: DigestLinks) -> RenderedDigest:
    picks, topics, note = content or Content.of(digest)
    site_url = settings.SITE_URL
    # A reader's links are made once per paper for both parts: HTML-escaped here, where
    # only their fixed parts can need it (ids and tokens are digits, letters, "-", ":"),
    # instead of escaping every value as it is filled in.
    feedback, save = links.feedback, links.save
    feedback_html, save_html = escape_html(feedback), escape_html(save)
    if links.tracked:
        sign = click_signer(digest_id=links.digest_id)
        before, after = link_parts(site_url, "subscriptions:click", "TOKEN")
    else:
        before, after = link_parts(site_url, "papers:detail", 999999999)
    before_html, after_html = escape_html(before), escape_html(after)
    for_you, trending = DigestItem.Section.FOR_YOU, DigestItem.Section.TRENDING
    html: dict[str, list[str]] = {for_you: [], trending: []}
    text: dict[str, list[str]] = {for_you: [], trending: []}
    titles = []
    for section, face, reasons in picks:
        kind = "paper" if section == for_you else "trending"
        with_reasons = kind == "paper" and bool(reasons)
        pk = face.pk
        target = sign(pk) if links.tracked else pk
        number = ""
        if kind == "paper":
            titles.append(face.title)
            number = str(len(titles))
        html[section].append(
            _paper_stencil(f"{kind}.html", face, site_url, with_reasons).fill(
                {
                    "more_url": SafeString(f"{feedback_html}?paper={pk}&amp;signal=more"),
                    "less_url": SafeString(f"{feedback_html}?paper={pk}&amp;signal=less"),
                    "save_url": SafeString(f"{save_html}?paper={pk}"),
                    "url": SafeString(f"{before_html}{target}{after_html}"),
                    "number": number,
                    "reasons": " · ".join(reasons),
                }
            )
        )
        text[section].append(
            _paper_stencil(f"{kind}.txt", face, site_url, with_reasons).fill(
                {
                    "more_url": f"{feedback}?paper={pk}&signal=more",
                    "less_url": f"{feedback}?paper={pk}&signal=less",
                    "save_url": f"{save}?paper={pk}",
                    "url": f"{before}{target}{after}",
                    "number": number,
                    "reasons": "; ".join(reasons),
                }
            )
        )
    subscriber = digest.subscriber
    weekly = digest.frequency == Subscriber.Frequency.WEEKLY
    shape = (digest.day, site_url, bool(html[for_you]), bool(html[trending]), weekly, note)
    values = {
        "view_url": links.view,
        "interests": interests_phrase(topics, subscriber.keywords),
        "preferences_url": links.preferences,
        "unsubscribe_url": links.unsubscribe,
    }
    return RenderedDigest(
        subject=digest_subject(digest.day, titles, weekly=weekly),
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

    ``content`` as ``render_digest`` takes it; ``to`` serves the admin's test send, whose
    links change nothing (``inert_links``): the reader's own must not reach anyone else.
    """
    links = reader_links(digest) if to is None else inert_links()
    rendered = _render_digest(digest, content, links)
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    headers = {
        "List-Unsubscribe": f"<{links.one_click}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": settings.DIGEST_LIST_ID,
    }
    subject = rendered.subject
    if to is None:
        # The same id on every attempt, so an ESP that deduplicates can do so.
        headers["Message-ID"] = f"<digest-{digest.pk}-{digest.period}@{domain}>"
    else:
        subject = f"[TEST] {subject}"
    email = email_of(
        subject=subject,
        text=rendered.text,
        html=rendered.html,
        to=to or digest.subscriber.email,
        headers=headers,
    )
    if settings.DIGEST_REPLY_TO:
        email.reply_to = [settings.DIGEST_REPLY_TO]
    if to is None:  # a test send is no digest's: its events must settle nothing
        email.metadata = digest_metadata(digest.pk)  # type: ignore[attr-defined]
    # Opens only for a reader who allows tracking; clicks never by the ESP: our redirect
    # counts them (subscriptions/delivery/engagement.py), and a rewritten link would hide it.
    email.track_opens = to is None and links.tracked  # type: ignore[attr-defined]
    email.track_clicks = False  # type: ignore[attr-defined]
    return email
