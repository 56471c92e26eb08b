"""Templates rendered once and filled in many times: how a day's digests render quickly.

A stencil is a Django template rendered once with a marker in place of each value that
differs from one reader to the next (their links, why a paper was picked), and with its CSS
inlined once. Filling it in for a reader is joining strings, about a hundred times cheaper
than rendering the template again and inlining its CSS again.

An HTML stencil comes out in ASCII: every other character is written as a numeric character
reference, which HTML reads as the character itself. An ASCII body is much cheaper to put into
MIME, and to write out, than one with UTF-8 in it.

The markers are two private-use characters around a nonce and the slot's name: neither HTML
escaping nor the CSS inliner touches them. A template written for a stencil names each slot as a
plain ``{{ name }}``, with no filter on it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape as escape_html
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeData

_OPEN, _CLOSE = "\ue000", "\ue001"
# A nonce in the markers, never written out: text that a listing put in the context (a title
# with these very characters) cannot pass for a slot. One per process, so the pattern that
# finds the slots is compiled once.
_NONCE = secrets.token_hex(8)
_SLOT = re.compile(f"{_OPEN}{_NONCE}(\\w+){_CLOSE}")


def slot(name: str) -> str:
    """The marker of the slot ``name``, for a slot inside a context value (a list's item)."""
    return f"{_OPEN}{_NONCE}{name}{_CLOSE}"


def _ascii(html: str) -> str:
    """``html`` in ASCII, other characters as numeric character references."""
    return html if html.isascii() else html.encode("ascii", "xmlcharrefreplace").decode()


def _escape(value: str) -> str:
    # What Django's conditional_escape does, without its lazy-string wrapper.
    return _ascii(value if isinstance(value, SafeData) else escape_html(value))


@dataclass(frozen=True, slots=True)
class Stencil:
    """Fixed text with named slots between its pieces: ``text, name, text, ..., text``."""

    pieces: tuple[str, ...]
    html: bool

    @classmethod
    def render(
        cls,
        template_name: str,
        context: Mapping[str, Any],
        *,
        slots: Iterable[str],
        html: bool,
        postprocess: Callable[[str], str] | None = None,
    ) -> Stencil:
        """Render ``template_name`` once, with a marker where each of ``slots`` goes."""
        marked = {**context, **{name: slot(name) for name in slots}}
        text: str = render_to_string(template_name, marked)  # postprocess may drop "safe"
        if postprocess is not None:
            text = postprocess(text)
        pieces = _SLOT.split(text)
        return cls(tuple(_ascii(piece) for piece in pieces) if html else tuple(pieces), html)

    def fill_some(self, values: Mapping[str, str]) -> Stencil:
        """The stencil with the slots named in ``values`` filled in, as ``fill`` does, and
        the others left for later."""
        escape = _escape if self.html else str
        pieces = [self.pieces[0]]
        for index in range(1, len(self.pieces), 2):
            name, text = self.pieces[index], self.pieces[index + 1]
            if name in values:
                pieces[-1] += escape(values[name]) + text
            else:
                pieces += [name, text]
        return Stencil(tuple(pieces), self.html)

    def fill(self, values: Mapping[str, str]) -> str:
        """The text with each slot filled in; in HTML, values are escaped unless marked safe."""
        pieces = list(self.pieces)  # text, name, text, ...: each name is replaced by its value
        names = pieces[1::2]
        if self.html:
            pieces[1::2] = [_escape(values[name]) for name in names]
        else:
            pieces[1::2] = [str(values[name]) for name in names]
        return "".join(pieces)
