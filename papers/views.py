"""Public pages about papers: the daily list (with search and topic filter) and one paper."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import cache_page
from django.views.decorators.http import require_safe

from .models import Topic
from .selectors import (
    PAPER_ORDERS,
    day_note,
    featured_days,
    latest_featured_day,
    neighbour_days,
    papers_featured_on,
    search_papers,
    visible_papers,
    with_shown_tags,
)


def _cached(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve the page from the page cache, rendered at most once per PAGE_CACHE_SECONDS
    (in each web process: the "pages" cache is the process's own memory).

    Public paper pages are the same for every visitor, except a visitor with a session or a
    flash message waiting (say "Paused."): their page is theirs alone, never cached and
    never served from the cache, so one visitor's message is never shown to another.
    """
    cached_view = cache_page(settings.PAGE_CACHE_SECONDS, cache="pages")(view)
    personal = (settings.SESSION_COOKIE_NAME, CookieStorage.cookie_name)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if any(name in request.COOKIES for name in personal):
            return view(request, *args, **kwargs)
        return cached_view(request, *args, **kwargs)

    return wrapper


@require_safe
@_cached
def paper_list(request: HttpRequest) -> HttpResponse:
    """The papers of a day (the latest by default), trending first (``?order=`` top or
    week for the others); or search results."""
    topics = list(Topic.objects.order_by("name"))
    slug = request.GET.get("topic", "")
    topic = next((t for t in topics if t.slug == slug), None)
    if slug and topic is None:
        raise Http404("No such topic.")
    # NUL can reach a query string but not a PostgreSQL text parameter.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:200]
    context: dict[str, object] = {"topics": topics, "topic": topic, "query": query}
    if query:
        context["papers"] = list(search_papers(query=query, topic=topic))
        return render(request, "papers/paper_list.html", context)

    order = request.GET.get("order") or next(iter(PAPER_ORDERS))
    if order not in PAPER_ORDERS:
        raise Http404("No such order.")
    day = _requested_day(request) or latest_featured_day()
    if day is not None:
        context.update(_day_context(day, topic, order))
    return render(request, "papers/paper_list.html", context)


@require_safe
@_cached
def day_archive(request: HttpRequest, day: str) -> HttpResponse:
    """The permanent page of one day's trending list (``/digest/2025-11-06/``)."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise Http404("Not a date.") from None
    context: dict[str, object] = {
        "topics": list(Topic.objects.order_by("name")),
        "topic": None,
        "query": "",
    }
    context.update(_day_context(parsed, None))
    if not context["papers"]:
        # A visitor's page, with the way to the days that have papers; a 404 all the same,
        # so that crawlers keep no empty day.
        return render(request, "papers/no_papers_yet.html", context, status=404)
    return render(request, "papers/paper_list.html", context)


ARCHIVE_DAYS_PER_PAGE = 30


@require_safe
@_cached
def digest_index(request: HttpRequest) -> HttpResponse:
    """Every past day's list (``/digest/``), newest first, ``ARCHIVE_DAYS_PER_PAGE`` a page."""
    page = Paginator(featured_days(), ARCHIVE_DAYS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "papers/digest_index.html", {"page": page})


def _day_context(day: date, topic: Topic | None, order: str = "trending") -> dict[str, object]:
    previous_day, next_day = neighbour_days(day=day)
    return {
        "day": day,
        "note": day_note(day=day),
        "order": order,
        "orders": PAPER_ORDERS,
        "growth_span": "this week" if order == "week" else "in 24 h",
        "papers": list(papers_featured_on(day=day, topic=topic, order=order)),
        "previous_day": previous_day,
        "next_day": next_day,
    }


def _requested_day(request: HttpRequest) -> date | None:
    value = request.GET.get("day")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Http404("Not a date.") from None


@require_safe
@_cached
def paper_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One paper: abstract, links and topics."""
    paper = get_object_or_404(with_shown_tags(visible_papers()), pk=pk)
    return render(request, "papers/paper_detail.html", {"paper": paper})
