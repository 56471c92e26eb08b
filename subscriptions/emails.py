"""Rendering emails: subject, text and HTML from ``templates/emails/<name>-*``, CSS inlined.

One helper renders any kind of email; each kind has a one-line wrapper that says which
template and context it uses (after healthchecks' ``emails.py``). A digest is assembled
from fragments rendered once per process instead: see ``subscriptions/delivery/render.py``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from subscriptions.mime import Email, check_headers

_STYLESHEET = Path(settings.BASE_DIR) / "templates" / "emails" / "email.css"


@lru_cache(maxsize=1)
def inliner() -> css_inline.CSSInliner:
    """The inliner of every email: the shared stylesheet's rules inlined, its at-rules (the
    dark palette) kept in a ``<style>`` in ``<head>``, where the clients that honour
    ``prefers-color-scheme`` read them; inline styles cannot hold a media query."""
    # The shared stylesheet is read and parsed once per process, not once per email.
    return css_inline.CSSInliner(
        extra_css=_STYLESHEET.read_text(), load_remote_stylesheets=False, keep_at_rules=True
    )


@lru_cache(maxsize=1)
def media_query_classes() -> frozenset[str]:
    """The class names the stylesheet's media queries select (the dark palette, the phone
    layout): they stay in the HTML when it sheds the others (inlined, a class serves
    nothing else). The media queries sit at the end of the stylesheet."""
    css = _STYLESHEET.read_text()
    start = css.find("@media")
    return frozenset(re.findall(r"\.([a-z][\w-]*)", css[start:])) if start >= 0 else frozenset()


def render(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text body, HTML body with CSS inlined) of the email ``name``.

    The subject is one line: every run of whitespace, line breaks included, becomes a space,
    so nothing a listing or a person wrote can add a header.
    """
    context = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
    text = render_to_string(f"emails/{name}-body.txt", context)
    html = inliner().inline(render_to_string(f"emails/{name}-body.html", context))
    return subject, text, html


def message(
    name: str, *, to: str, context: dict[str, Any], headers: dict[str, str] | None = None
) -> EmailMultiAlternatives:
    """A ready-to-send email ``name`` with both parts."""
    subject, text, html = render(name, context)
    return email_of(subject=subject, text=text, html=html, to=to, headers=headers or {})


def email_of(
    *, subject: str, text: str, html: str, to: str, headers: dict[str, str]
) -> EmailMultiAlternatives:
    """An email of already rendered parts, from the site's address, text and HTML.

    Raises ``BadHeaderError`` for a control character in the address or a header, whatever
    the backend (an ESP's API gets the same values as a MIME header would)."""
    email = Email(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to], headers=headers
    )
    email.attach_alternative(html, "text/html")
    check_headers(email)
    return email


def absolute(path: str) -> str:
    """``path`` on this site as an absolute URL, for links in emails."""
    return f"{settings.SITE_URL}{path}"


def link(name: str, *args: object) -> str:
    """The absolute URL of the view ``name``, for links in emails."""
    return absolute(reverse(name, args=args))


def confirmation_email(*, to: str, confirm_url: str) -> EmailMultiAlternatives:
    """Double opt-in. Holds no text a stranger typed except the address it goes to."""
    return message("confirm", to=to, context={"confirm_url": confirm_url})


def already_subscribed_email(*, to: str, preferences_url: str) -> EmailMultiAlternatives:
    """Sent instead of a confirmation when the address is already subscribed."""
    return message("already-subscribed", to=to, context={"preferences_url": preferences_url})


def preferences_link_email(*, to: str, preferences_url: str) -> EmailMultiAlternatives:
    """A fresh preferences link, asked for on the site or after "sign out all my links"."""
    context = {
        "preferences_url": preferences_url,
        "max_age_days": settings.PREFERENCES_LINK_MAX_AGE_DAYS,
    }
    return message("preferences-link", to=to, context=context)
