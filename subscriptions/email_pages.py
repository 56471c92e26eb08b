"""The one relaxation of the site's Content-Security-Policy: pages that show an email's HTML.

css-inline writes every email's styles into ``style`` attributes, which the site's policy
(``CONTENT_SECURITY_POLICY`` in settings) refuses. Scripts stay refused on these pages too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.http import HttpResponseBase

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)

_INLINE_STYLES = csp_update({"style-src": [UNSAFE_INLINE]})


def shows_email_html(view: Callable[P, R]) -> Callable[P, R]:
    """``view``, whose responses' policy also allows inline styles."""
    # django-csp types its decorators for views of a request only; ours take more arguments.
    return cast(Callable[P, R], _INLINE_STYLES(cast(Any, view)))
