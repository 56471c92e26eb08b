"""Sign-up limits: one count for every process, a sliding window, IPv6 per /64."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from subscriptions.people.ratelimit import (
    DatabaseLimiter,
    RedisLimiter,
    client_network,
    forget_limits,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def post_signup(client, number: int, remote: str):
    data = {"email": f"p{number}@example.org", "topics": ["face-analysis"], "frequency": "daily"}
    return client.post("/subscribe/", data, REMOTE_ADDR=remote).status_code


def test_it_counts_an_ipv6_visitor_by_their_64(client, settings):
    settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = 2
    one_site = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"]
    assert [post_signup(client, n, ip) for n, ip in enumerate(one_site)] == [302, 302, 429]
    assert post_signup(client, 3, "2001:db8:1:3::1") == 302  # the next /64: someone else


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),  # IPv4 written as IPv6 is that IPv4 address
        ("", ""),
    ],
)
def test_what_a_visitor_is_counted_by(address, counted_as):
    assert client_network(address) == counted_as


def test_the_window_slides_instead_of_starting_afresh_each_hour():
    # Two attempts just before the hour, and a third just after it: a fixed hourly window
    # starts again at the hour and lets it through (four in four minutes would pass). On a
    # clock of the test's own (Redis keeps its own: its sliding log is tested below).
    hour = 3600 * 480_000
    clock = [hour - 120.0]
    limiter = DatabaseLimiter(clock=lambda: clock[0])

    def attempt(at: float) -> bool:
        clock[0] = at
        return limiter.allow(scope="test", key="203.0.113.9", limit=2, window_seconds=3600)

    assert attempt(hour - 120) is True
    assert attempt(hour - 60) is True
    assert attempt(hour + 60) is False
    assert attempt(hour + 3600 - 121) is False  # the first is still within the last hour
    assert attempt(hour + 3600 - 119) is True  # the first has left the window
    assert attempt(hour + 3600 - 100) is False  # the second has not


def test_refused_attempts_do_not_push_the_window_on():
    clock = [1000.0]
    limiter = DatabaseLimiter(clock=lambda: clock[0])
    assert limiter.allow(scope="test", key="k", limit=1, window_seconds=60) is True
    for second in range(1001, 1060):
        clock[0] = second
        assert limiter.allow(scope="test", key="k", limit=1, window_seconds=60) is False
    clock[0] = 1061
    assert limiter.allow(scope="test", key="k", limit=1, window_seconds=60) is True


def test_two_limiters_as_two_workers_hold_share_one_count():
    workers = [DatabaseLimiter(), DatabaseLimiter()]
    answers = [
        workers[n % 2].allow(scope="test", key="203.0.113.9", limit=3, window_seconds=3600)
        for n in range(5)
    ]
    assert answers == [True, True, True, False, False]


_WORKER = """
import json, sys
import django
django.setup()
from django.db import connection
from subscriptions.models import RateLimitBucket
if sys.argv[2] == "first":  # the one table the limiter needs (all migrations take seconds)
    with connection.schema_editor() as editor:
        editor.create_model(RateLimitBucket)
from subscriptions.people.ratelimit import allow
attempts = range(int(sys.argv[1]))
print(json.dumps([allow(scope="t", key="k", limit=3, window_seconds=3600) for _ in attempts]))
"""


def test_two_worker_processes_share_one_count(tmp_path):
    """Two processes on one embedded (SQLite) database, as two gunicorn workers are."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "BROKER_URL", "CI")
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "digest_site.settings",
        "SECRET_KEY": "tests-only-not-a-secret",
        "VAR_DIR": str(tmp_path),
    }

    def worker(attempts: int, which: str) -> list[bool]:
        finished = subprocess.run(
            [sys.executable, "-c", _WORKER, str(attempts), which],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert finished.returncode == 0, finished.stderr
        return json.loads(finished.stdout)

    assert worker(2, "first") == [True, True]
    assert worker(2, "second") == [True, False]  # another process: the third place, then none


@pytest.mark.redis
def test_two_workers_on_redis_share_one_sliding_count(redis_url):
    workers = [RedisLimiter(redis_url), RedisLimiter(redis_url)]
    try:
        answers = [
            workers[n % 2].allow(scope="test", key="203.0.113.9", limit=3, window_seconds=1)
            for n in range(5)
        ]
        assert answers == [True, True, True, False, False]
        time.sleep(1.1)  # the window is Redis' clock: the first three leave it
        assert workers[1].allow(scope="test", key="203.0.113.9", limit=3, window_seconds=1)
    finally:
        forget_limits()


def test_while_redis_does_not_answer_the_database_counts():
    # Nothing listens on port 1 of the loopback: the connection is refused at once.
    limiter = RedisLimiter("redis://127.0.0.1:1/0", fallback=DatabaseLimiter())
    database = DatabaseLimiter()
    assert limiter.allow(scope="test", key="k", limit=2, window_seconds=3600) is True
    assert database.allow(scope="test", key="k", limit=2, window_seconds=3600) is True
    assert limiter.allow(scope="test", key="k", limit=2, window_seconds=3600) is False
