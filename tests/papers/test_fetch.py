from datetime import date

import httpx
import pytest

from papers.fetch import (
    FetchError,
    arxiv_listing_url,
    fetch_document,
    hf_daily_papers_url,
    listing_url,
)
from papers.sources import ARXIV, HUGGING_FACE


class Server:
    """Answers requests from a script of responses (or exceptions), recording what it saw."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def naps():
    return []


def fetch(server, naps):
    return fetch_document(
        "https://example.test/listing", transport=httpx.MockTransport(server), sleep=naps.append
    )


def test_it_returns_the_body_and_says_who_it_is(naps):
    server = Server(httpx.Response(200, content=b"[]"))
    assert fetch(server, naps) == b"[]"
    assert server.requests[0].headers["User-Agent"].startswith("PaperDigest/")
    assert naps == []


def test_it_retries_server_errors_and_timeouts_with_growing_pauses(settings, naps):
    settings.FETCH_RETRIES = 3
    settings.FETCH_BACKOFF_SECONDS = 2
    server = Server(
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.Response(200, content=b"ok"),
    )
    assert fetch(server, naps) == b"ok"
    assert naps == [2, 4, 8]


def test_it_gives_up_after_the_last_retry(settings, naps):
    settings.FETCH_RETRIES = 2
    server = Server(httpx.Response(500), httpx.Response(502), httpx.Response(504))
    with pytest.raises(FetchError, match=r"example.test/listing: HTTP 504.*after 3 attempts"):
        fetch(server, naps)
    assert len(server.requests) == 3


def test_it_does_not_retry_a_client_error(naps):
    server = Server(httpx.Response(404))
    with pytest.raises(FetchError, match="HTTP 404 Not Found"):
        fetch(server, naps)
    assert len(server.requests) == 1
    assert naps == []


def test_it_builds_source_urls():
    assert hf_daily_papers_url(day=date(2025, 11, 6)).endswith("daily_papers?date=2025-11-06")
    assert arxiv_listing_url(category="cs.LG") == "https://arxiv.org/list/cs.LG/new"
    past = arxiv_listing_url(category="cs.LG", day=date(2025, 11, 6))
    assert "export.arxiv.org/api/query" in past
    assert "cat%3Acs.LG" in past and "202511060000" in past


def test_it_builds_a_registered_sources_url_from_its_name():
    day = date(2025, 11, 6)
    assert listing_url(source=HUGGING_FACE, day=day) == hf_daily_papers_url(day=day)
    assert listing_url(source=ARXIV, category="cs.LG") == arxiv_listing_url(category="cs.LG")
    with pytest.raises(FetchError, match="no listing address for source 'arxiv'"):
        listing_url(source=ARXIV, day=day)
