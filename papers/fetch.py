"""Fetching listing documents over HTTP: timeouts, a descriptive User-Agent, retries.

Retries (with exponential backoff) happen on timeouts, connection errors and 5xx answers,
which are usually passing; a 4xx answer is our mistake or a missing page and is final.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from urllib.parse import quote

import httpx
from django.conf import settings

from .sources import ARXIV, HUGGING_FACE, Source

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class FetchError(Exception):
    """The document could not be fetched; the message names the URL and what went wrong."""


def fetch_document(
    url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """The body of ``url``, after up to ``FETCH_RETRIES`` retries of passing failures.

    Raises ``FetchError`` when the server answers 4xx, or when every attempt failed.
    ``transport`` and ``sleep`` exist so tests can stand in for the network and the clock.
    """
    attempts = 1 + settings.FETCH_RETRIES
    headers = {"User-Agent": settings.FETCH_USER_AGENT}
    with httpx.Client(
        timeout=settings.FETCH_TIMEOUT_SECONDS,
        headers=headers,
        follow_redirects=True,
        transport=transport,
    ) as client:
        for attempt in range(1, attempts + 1):
            try:
                response = client.get(url)
            except httpx.TimeoutException:
                problem = f"timed out after {settings.FETCH_TIMEOUT_SECONDS:g} s"
            except httpx.TransportError as error:
                problem = f"connection failed ({error.__class__.__name__}: {error})"
            else:
                if response.status_code < 400:
                    return response.content
                problem = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                if response.status_code not in RETRYABLE_STATUS:
                    raise FetchError(f"{url}: {problem}")
            if attempt == attempts:
                break
            delay = settings.FETCH_BACKOFF_SECONDS * 2 ** (attempt - 1)
            logger.warning("fetching %s: %s; retrying in %.1f s", url, problem, delay)
            sleep(delay)
    raise FetchError(f"{url}: {problem} (gave up after {attempts} attempts)")


def listing_url(*, source: Source, day: date | None = None, category: str = "") -> str:
    """The address of ``source``'s listing for ``day`` (and ``category``, for a source listed
    per category); without a day, the latest listing, for a source that has one.

    Raises ``FetchError`` when this module knows no address for the source, or the source
    needs a day or a category it was not given.
    """
    # The addresses come from settings, so they are built here and not in the registry.
    if source == HUGGING_FACE and day is not None:
        return hf_daily_papers_url(day=day)
    if source == ARXIV and category:
        return arxiv_listing_url(category=category, day=day)
    raise FetchError(
        f"no listing address for source {source.name!r} "
        f"(day {day or 'not given'}, category {category or 'not given'})"
    )


def hf_daily_papers_url(*, day: date) -> str:
    """The Hugging Face Daily Papers API URL for one day."""
    return settings.HF_DAILY_PAPERS_URL.format(date=day.isoformat())


def arxiv_listing_url(*, category: str, day: date | None = None) -> str:
    """Today's arXiv "new" listing for a category, or the API query for one past day.

    arXiv's /new page only ever shows the latest announcement, so a given day comes from
    the API, searching submissions of that day in the category.
    """
    if day is None:
        return settings.ARXIV_LISTING_URL.format(category=quote(category))
    stamp = day.strftime("%Y%m%d")
    query = f"cat:{category} AND submittedDate:[{stamp}0000 TO {stamp}2359]"
    return (
        "https://export.arxiv.org/api/query?max_results=500&sortBy=submittedDate"
        f"&search_query={quote(query)}"
    )
