"""The reader's links in a digest (view, preferences, unsubscribe, feedback, save, and each
paper's), joined from parts reversed once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.urls import reverse

from subscriptions.models import Digest
from subscriptions.people.tokens import digest_tokens


# Links are reversed once per site and name, with stand-ins for their arguments, then joined
# per reader: reverse() costs more than all the rest of a digest's links.
@lru_cache(maxsize=64)
def link_parts(site_url: str, name: str, *stand_ins: object) -> list[str]:
    """The absolute URL of ``name`` cut where each stand-in argument goes (shared: read it,
    never change it)."""
    pieces = [f"{site_url}{reverse(name, args=stand_ins)}"]
    for stand_in in stand_ins:
        before, after = pieces.pop().split(str(stand_in))
        pieces += [before, after]
    return pieces


def _link(name: str, token: str) -> str:
    before, after = link_parts(settings.SITE_URL, name, "TOKEN")
    return f"{before}{token}{after}"


def paper_link(site_url: str, paper_id: int) -> str:
    """The paper's page on the site, absolute."""
    before, after = link_parts(site_url, "papers:detail", 999999999)
    return f"{before}{paper_id}{after}"


def _view_link(token: str, digest_id: int) -> str:
    parts = link_parts(settings.SITE_URL, "subscriptions:view_digest", "TOKEN", 999999999)
    before, middle, after = parts
    return f"{before}{token}{middle}{digest_id}{after}"


@dataclass(frozen=True, slots=True)
class DigestLinks:
    """Where the reader's links in a digest go, each with a token of its own purpose;
    ``feedback`` takes ``?paper=<id>&signal=more|less``, ``save`` takes ``?paper=<id>``.
    With ``tracked``, each paper's link goes through the counting redirect (``/r/<token>/``,
    a token per paper of ``digest_id``); without, straight to the paper."""

    view: str
    preferences: str
    unsubscribe: str
    one_click: str
    feedback: str
    save: str
    tracked: bool = False
    digest_id: int = 0
    feedback_token: str = ""  # for a page that remembers the reader (library.remember_reader)


def reader_links(digest: Digest, *, issued_at: int | None = None) -> DigestLinks:
    """The links of the digest's reader, dated ``issued_at`` (by default now): four
    signatures, no query (saving is feedback: it shares the feedback token)."""
    tokens = digest_tokens(digest.subscriber, issued_at=issued_at)
    return DigestLinks(
        view=_view_link(tokens.view, digest.pk or 0),
        preferences=_link("subscriptions:preferences", tokens.preferences),
        unsubscribe=_link("subscriptions:unsubscribe", tokens.unsubscribe),
        one_click=_link("subscriptions:one_click_unsubscribe", tokens.unsubscribe),
        feedback=_link("subscriptions:feedback", tokens.feedback),
        save=_link("subscriptions:save", tokens.feedback),
        tracked=digest.subscriber.tracking and bool(digest.pk),
        digest_id=digest.pk or 0,
        feedback_token=tokens.feedback,
    )


def inert_links() -> DigestLinks:
    """Links for a test send or an editor's preview: every one leads to a page saying it
    changes nothing, and a one-click POST to it unsubscribes no one."""
    inert = f"{settings.SITE_URL}{reverse('subscriptions:test_link')}"
    return DigestLinks(inert, inert, inert, inert, inert, inert)
