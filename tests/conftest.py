"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from digest_site.celery import app as celery_app

FIXTURES = Path(__file__).parent / "fixtures"
SEED_LISTING = FIXTURES / "hf-daily-papers-2025-11-06.txt"
# One real document per registered listing format (papers.sources.FORMATS).
FIXTURE_OF_FORMAT = {
    "hf-json": "hf-daily-papers.json",
    "hf-html": "hf-daily-papers.html",
    "seed": "hf-daily-papers-2025-11-06.txt",
    "arxiv-atom": "arxiv-api-query-testing-10.atom.xml",
    "arxiv-html": "arxiv-list-cs-LG-new.html",
}


def fixture_bytes(name: str) -> bytes:
    """The raw bytes of a file under tests/fixtures/."""
    return (FIXTURES / name).read_bytes()


def fixture_text(name: str) -> str:
    """The text of a file under tests/fixtures/."""
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _tasks_run_in_process() -> Iterator[None]:
    # Even with a real broker configured, tests run tasks in-process unless they ask for a
    # worker (see `celery_worker_on_redis`).
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _email_on_anymail_test_backend(settings) -> None:
    # The backend we ship is anymail's; its test backend behaves like it (it does not
    # reject CR/LF in headers, Django's locmem backend does).
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"


def _clear_caches() -> None:
    from django.core.cache import caches

    from subscriptions.delivery.caches import forget_day
    from subscriptions.delivery.throttle import forget_throttles
    from subscriptions.people.ratelimit import forget_limits

    for cache in caches.all():
        cache.clear()
    # A worker's caches of the day's papers, so that no test sees what another rendered.
    forget_day()
    forget_throttles()  # and no test inherits another's send pause
    forget_limits()  # or sign-up counts


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    _clear_caches()
    yield
    _clear_caches()


@pytest.fixture
def redis_url() -> str:
    """The real Redis server's URL. In CI a missing Redis fails the test; locally it skips."""
    if not settings.REDIS_URL:
        message = "REDIS_URL is not set: this test needs a real Redis server"
        if settings.RUNNING_IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"REDIS_URL={settings.REDIS_URL} is set but Redis does not answer: {error}")
    return settings.REDIS_URL


@pytest.fixture
def default_topics(db: None) -> None:
    """The topics migration 0002 creates (a transactional test's flush removes them)."""
    import importlib

    from django.apps import apps

    importlib.import_module("papers.migrations.0002_default_topics").add_topics(apps, None)


@pytest.fixture
def seeded(default_topics: None) -> None:
    """The database with the seed listing ingested (82 papers, tagged with topics)."""
    from papers.ingest import ingest_location

    ingest_location(location=str(SEED_LISTING))


def pytest_report_header() -> list[str]:
    from django.db import connection

    broker = settings.REDIS_URL or "none (tasks run in-process)"
    return [f"database: {connection.vendor}; Redis: {broker}; CI: {settings.RUNNING_IN_CI}"]


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium_path() -> Path:
    """Debian's Chromium. In CI a missing browser fails the test; locally it skips."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make test` installs it with apt-get"
        if settings.RUNNING_IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM
