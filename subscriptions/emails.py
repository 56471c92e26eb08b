"""Rendering emails: subject, text and HTML from ``templates/emails/<name>-*``, CSS inlined.

One helper renders any kind of email; each kind has a one-line wrapper that says which
template and context it uses (after healthchecks' ``emails.py``).
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from papers.models import Paper

from .models import Digest, DigestItem, Subscriber
from .stencils import Stencil
from .tokens import confirmation_token, manage_token

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


def encoded_words(text: str) -> str:
    """``text`` as RFC 2047 encoded words (base64, under 76 characters each), if not ASCII.

    A reader sees the original text: the spaces between encoded words are not part of it.
    """
    if text.isascii():
        return text
    words, word, size = [], [], 0
    for character in text:
        length = len(character.encode())
        if size + length > 45:  # 45 bytes are 60 in base64; with "=?utf-8?b??=", 72
            words.append("".join(word))
            word, size = [], 0
        word.append(character)
        size += length
    words.append("".join(word))
    return " ".join(f"=?utf-8?b?{b64encode(w.encode()).decode()}?=" for w in words)


class Email(EmailMultiAlternatives):
    """An email whose MIME form encodes its subject in linear time.

    The standard library's encoder, which Django uses, tries every prefix of a non-ASCII
    subject to find where to fold it: about a millisecond a subject, as much as serialising
    all the rest of a digest. ``subject`` itself stays as written (an ESP's API takes it).
    """

    def message(self) -> Any:
        subject = self.subject
        self.subject = encoded_words(subject)
        try:
            return super().message()
        finally:
            self.subject = subject


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
# digest, and a fragment per paper, each rendered and CSS-inlined once per process; a
# reader's links and reasons are filled in per digest.


@dataclass(frozen=True, slots=True)
class PaperFace:
    """What a digest shows of a paper; a paper's fragments are cached under it, so any
    change to what is shown (a new title, more upvotes, other topics) renders them anew."""

    pk: int
    title: str
    author_summary: str
    upvotes: int
    topics: tuple[str, ...]
    abstract: str
    arxiv_url: str
    pdf_url: str
    github_url: str

    @classmethod
    def of(cls, paper: Paper) -> PaperFace:
        return cls(
            pk=paper.pk,
            title=paper.title,
            author_summary=paper.author_summary,
            upvotes=paper.upvotes,
            topics=tuple(tag.topic.name for tag in getattr(paper, "shown_tags", ())[:3]),
            abstract=paper.abstract,
            arxiv_url=paper.arxiv_url,
            pdf_url=paper.pdf_url,
            github_url=paper.github_url,
        )


def _inline_fragment(html: str) -> str:
    return _inliner().inline_fragment(html, "")


@lru_cache(maxsize=8192)
def _paper_stencil(name: str, face: PaperFace, site_url: str, with_reasons: bool) -> Stencil:
    """The fragment ``name`` (paper or trending, .html or .txt) of one paper."""
    html = name.endswith(".html")
    context = {
        "paper": face,
        "url": f"{site_url}{reverse('papers:detail', args=[face.pk])}",
        "excerpt": excerpt(face.abstract),
        "has_reasons": with_reasons,
    }
    return Stencil.render(
        f"emails/digest/{name}",
        context,
        slots=("number", "reasons", "more_url", "less_url"),
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
        postprocess=_inliner().inline if html else None,
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
        lead = Truncator(for_you_titles[0]).chars(70)
        if len(for_you_titles) > 1:
            lead += f" and {len(for_you_titles) - 1} more"
    else:
        lead = "Nothing new in your topics"
    return " ".join(f"{lead} · Paper Digest {date_format(day, 'M j')}".split())


def render_digest(digest: Digest, items: Iterable[DigestItem] | None = None) -> RenderedDigest:
    """Subject, text and HTML of a digest, for the email and the "view in browser" page.

    ``digest`` should come with its subscriber (and topics) and items (and their papers,
    with shown tags) loaded, as ``digests_with_content`` does; a preview passes unsaved
    ``items`` instead.
    """
    subscriber = digest.subscriber
    site_url = settings.SITE_URL
    token = manage_token(subscriber)
    feedback = absolute(reverse("subscriptions:feedback", args=[token]))
    view_url = absolute(reverse("subscriptions:view_digest", args=[token, digest.pk or 0]))
    html: dict[str, list[str]] = {DigestItem.Section.FOR_YOU: [], DigestItem.Section.TRENDING: []}
    text: dict[str, list[str]] = {DigestItem.Section.FOR_YOU: [], DigestItem.Section.TRENDING: []}
    titles = []
    for item in digest.items.all() if items is None else items:
        face = PaperFace.of(item.paper)
        kind = "paper" if item.section == DigestItem.Section.FOR_YOU else "trending"
        with_reasons = kind == "paper" and bool(item.reasons)
        values = {
            "more_url": f"{feedback}?paper={face.pk}&signal=more",
            "less_url": f"{feedback}?paper={face.pk}&signal=less",
        }
        if kind == "paper":
            titles.append(face.title)
            values["number"] = str(len(titles))
        values["reasons"] = " · ".join(item.reasons)
        html[item.section].append(
            _paper_stencil(f"{kind}.html", face, site_url, with_reasons).fill(values)
        )
        values["reasons"] = "; ".join(item.reasons)
        text[item.section].append(
            _paper_stencil(f"{kind}.txt", face, site_url, with_reasons).fill(values)
        )
    topics = [topic.name for topic in subscriber.topics.all()]
    shape = (
        digest.day,
        site_url,
        bool(html[DigestItem.Section.FOR_YOU]),
        bool(html[DigestItem.Section.TRENDING]),
    )
    values = {
        "view_url": view_url,
        "interests": interests_phrase(topics, subscriber.keywords),
        "preferences_url": absolute(reverse("subscriptions:preferences", args=[token])),
        "unsubscribe_url": absolute(reverse("subscriptions:unsubscribe", args=[token])),
    }
    return RenderedDigest(
        subject=digest_subject(digest.day, titles),
        text=_shell_stencil("shell.txt", *shape).fill(
            {
                **values,
                "for_you": "".join(text[DigestItem.Section.FOR_YOU]),
                "trending": "".join(text[DigestItem.Section.TRENDING]),
            }
        ),
        html=_shell_stencil("shell.html", *shape).fill(
            {
                **values,
                "for_you": mark_safe("".join(html[DigestItem.Section.FOR_YOU])),
                "trending": mark_safe("".join(html[DigestItem.Section.TRENDING])),
            }
        ),
    )


def digest_email(
    digest: Digest, items: Iterable[DigestItem] | None = None, *, to: str | None = None
) -> EmailMultiAlternatives:
    """A subscriber's digest, with one-click unsubscribe and list headers.

    ``items`` and ``to`` serve the admin's test send: unsaved items, another address.
    """
    rendered = render_digest(digest, items)
    manage = manage_token(digest.subscriber)
    one_click = absolute(reverse("subscriptions:one_click_unsubscribe", args=[manage]))
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
