"""Rendering emails: subject, text and HTML from ``templates/emails/<name>-*``, CSS inlined.

One helper renders any kind of email; each kind has a one-line wrapper that says which
template and context it uses (after healthchecks' ``emails.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Digest, DigestItem, Subscriber
from .tokens import confirmation_token, digest_view_token, feedback_token, manage_token

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
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers or {},
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


def digest_context(digest: Digest, items: Iterable[DigestItem] | None = None) -> dict[str, Any]:
    """Everything the digest templates show, for the email and the "view in browser" page.

    ``digest`` should come with its subscriber and items (and their papers) loaded; a
    preview passes unsaved ``items`` instead.
    """
    subscriber = digest.subscriber
    manage = manage_token(subscriber)
    sections: dict[str, list[dict[str, Any]]] = {"for_you": [], "trending": []}
    for item in digest.items.all() if items is None else items:
        paper = item.paper
        sections[item.section].append(
            {
                "paper": paper,
                "url": absolute(reverse("papers:detail", args=[paper.pk])),
                "excerpt": excerpt(paper.abstract),
                "topics": [tag.topic.name for tag in getattr(paper, "shown_tags", [])][:3],
                "reasons": item.reasons,
                "more_url": absolute(
                    reverse(
                        "subscriptions:feedback",
                        args=[feedback_token(subscriber, paper_id=paper.pk, signal=1)],
                    )
                ),
                "less_url": absolute(
                    reverse(
                        "subscriptions:feedback",
                        args=[feedback_token(subscriber, paper_id=paper.pk, signal=-1)],
                    )
                ),
            }
        )
    topics = list(subscriber.topics.values_list("name", flat=True))
    return {
        "digest": digest,
        "for_you": sections["for_you"],
        "trending": sections["trending"],
        "topics": topics,
        "keywords": subscriber.keywords,
        "preferences_url": absolute(reverse("subscriptions:preferences", args=[manage])),
        "unsubscribe_url": absolute(reverse("subscriptions:unsubscribe", args=[manage])),
        "view_url": absolute(
            reverse(
                "subscriptions:view_digest",
                args=[digest_view_token(subscriber, digest_id=digest.pk)],
            )
        ),
    }


def digest_email(
    digest: Digest, items: Iterable[DigestItem] | None = None, *, to: str | None = None
) -> EmailMultiAlternatives:
    """A subscriber's digest, with one-click unsubscribe and list headers.

    ``items`` and ``to`` serve the admin's test send: unsaved items, another address.
    """
    manage = manage_token(digest.subscriber)
    one_click = absolute(reverse("subscriptions:one_click_unsubscribe", args=[manage]))
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    headers = {
        "List-Unsubscribe": f"<{one_click}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": settings.DIGEST_LIST_ID,
        # The same id on every attempt, so an ESP that deduplicates can do so.
        "Message-ID": f"<digest-{digest.pk}-{digest.period}@{domain}>",
    }
    email = message(
        "digest",
        to=to or digest.subscriber.email,
        context=digest_context(digest, items),
        headers=headers,
    )
    if to is not None:
        email.subject = f"[TEST] {email.subject}"
        del email.extra_headers["Message-ID"]
    if settings.DIGEST_REPLY_TO:
        email.reply_to = [settings.DIGEST_REPLY_TO]
    return email
