"""Assertions and shortcuts shared by the subscription tests."""

from __future__ import annotations

import re

from django.core import mail
from django.core.mail import EmailMultiAlternatives


def html_part(message: EmailMultiAlternatives) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def assert_in_both_parts(message: EmailMultiAlternatives, text: str) -> None:
    """The text appears in the plain-text body and in the HTML body."""
    assert text in message.body, f"{text!r} not in the text part"
    assert text in html_part(message), f"{text!r} not in the HTML part"


def only_email_to(address: str) -> EmailMultiAlternatives:
    sent = [m for m in mail.outbox if address in m.to]
    assert len(sent) == 1, f"{len(sent)} emails to {address}"
    return sent[0]


def link_in(message: EmailMultiAlternatives, path_start: str) -> str:
    """The path of the first link in the text part that starts with ``path_start``."""
    match = re.search(rf"https?://[^/\s]+({re.escape(path_start)}[^\s]*)", message.body)
    assert match, f"no {path_start} link in {message.body!r}"
    return match.group(1)
