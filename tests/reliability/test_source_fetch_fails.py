"""A listing source fails: the ingest says which URL and what went wrong, and changes no paper.

The real ``papers.fetch.fetch_document`` runs (retries, backoff, status handling) against an
``httpx.MockTransport`` standing in for the network, with a clock that does not sleep. Needs
no service: runs in both passes of CI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import httpx
import pytest
from django.conf import settings as django_settings

from papers import fetch, ingest
from papers.ingest import IngestError, ingest_location
from papers.models import IngestRun, Paper, PaperSource, PaperTopic, UpvoteObservation
from tests.conftest import fixture_bytes

URL = fetch.hf_daily_papers_url(day=date(2025, 11, 7))
HF_JSON = fixture_bytes("hf-daily-papers.json")


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("the server did not answer in time", request=request)


def server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text="Internal Server Error")


def captive_portal(request: httpx.Request) -> httpx.Response:
    # A hotel or company network answering every request with its own login page.
    return httpx.Response(
        200,
        content=fixture_bytes("hf-login-page.html"),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )


def cut_in_half(request: httpx.Request) -> httpx.Response:
    # The connection dropped halfway through the real API answer.
    return httpx.Response(
        200, content=HF_JSON[: len(HF_JSON) // 2], headers={"Content-Type": "application/json"}
    )


ATTEMPTS = 1 + django_settings.FETCH_RETRIES


@pytest.mark.parametrize(
    ("answer", "problem", "requests"),
    [
        pytest.param(
            timeout,
            rf"timed out after .* s \(gave up after {ATTEMPTS} attempts\)",
            ATTEMPTS,
            id="timeouts",
        ),
        pytest.param(
            server_error,
            rf"HTTP 500 Internal Server Error \(gave up after {ATTEMPTS} attempts\)",
            ATTEMPTS,
            id="http-500",
        ),
        pytest.param(captive_portal, r"an HTML page .*login page", 1, id="captive-portal"),
        pytest.param(cut_in_half, r"not valid JSON", 1, id="truncated-json"),
    ],
)
def test_a_failing_source_is_reported_and_changes_no_paper(
    seeded, monkeypatch, answer: Callable, problem: str, requests: int
):
    seen: list[httpx.Request] = []
    pauses: list[float] = []

    def network(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    def fetch_document(url: str) -> bytes:
        return fetch.fetch_document(
            url, transport=httpx.MockTransport(network), sleep=pauses.append
        )

    monkeypatch.setattr(ingest, "fetch_document", fetch_document)
    before = snapshot()
    runs_before = IngestRun.objects.count()

    with pytest.raises(IngestError) as raised:
        ingest_location(location=URL)

    # The operator reads which URL failed and why.
    message = str(raised.value)
    assert re.match(rf"^{re.escape(URL)}: .*{problem}", message), message
    assert len(seen) == requests
    assert len(pauses) == requests - 1  # backoff between attempts, none after the last
    # The failure is on record, with the same message.
    assert IngestRun.objects.count() == runs_before + 1
    run = IngestRun.objects.get(location=URL)
    assert run.status == IngestRun.Status.FAILED
    assert run.error == message
    assert run.finished_at is not None
    assert (run.created, run.updated, run.unchanged) == (0, 0, 0)
    # The papers already there are exactly as they were.
    assert snapshot() == before


def snapshot() -> dict[str, list]:
    return {
        "papers": list(Paper.objects.order_by("pk").values()),
        "topics": list(PaperTopic.objects.order_by("pk").values()),
        "sources": list(PaperSource.objects.order_by("pk").values()),
        "upvotes": list(UpvoteObservation.objects.order_by("pk").values()),
    }
