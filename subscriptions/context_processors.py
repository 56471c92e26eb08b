"""Template context for every page: what the site may offer a reader it recognises."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from subscriptions.people.library import remembered_reader


def reader(request: HttpRequest) -> dict[str, str]:
    """``reader_save_url`` (add ``?paper=<id>``) for a reader who came from their email;
    nothing otherwise. A visitor without a session cookie costs no session read (and keeps
    getting cached pages)."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return {}
    token = remembered_reader(request.session)
    return {"reader_save_url": reverse("subscriptions:save", args=[token])} if token else {}
