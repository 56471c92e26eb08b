"""Real services for the fault tests: the PostgreSQL check, a private Redis, Celery and the cache.

In CI (``settings.RUNNING_IN_CI``) a missing service fails the test; locally it skips. Tests
using these are marked ``redis`` so the SQLite pass of CI deselects them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from digest_site.celery import app as celery_app
from papers.models import Topic
from subscriptions.models import Subscriber
from tests.factories import make_subscriber

START_SECONDS = 10
STOP_SECONDS = 10
# Topics the seed's papers are tagged with, so every reader has something to read.
SEED_TOPIC_SLUGS = ["face-analysis", "model-merging", "segmentation", "recommender-systems"]


def make_readers(count: int, *, prefix: str = "reader-") -> list[Subscriber]:
    """``count`` active daily subscribers, ``<prefix><n>@example.org``, one seed topic each."""
    topics = [Topic.objects.get(slug=slug) for slug in SEED_TOPIC_SLUGS]
    return [
        make_subscriber(
            email=f"{prefix}{number}@example.org",
            frequency=Subscriber.Frequency.DAILY,
            topics=[topics[number % len(topics)]],
        )
        for number in range(count)
    ]


def worker_env(
    *, database_url: str, redis_url: str, var_dir: Path, email_backend: str, **overrides: str
) -> dict[str, str]:
    """The environment of a worker process on the test database and a Redis, plus overrides
    (settings read from the environment, such as ``DIGEST_BATCH_SIZE``)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "tests-only-not-a-secret",
        "EMAIL_BACKEND": email_backend,
        "VAR_DIR": str(var_dir),
        **overrides,
    }


def missing_service(message: str) -> None:
    """Fail in CI, skip locally."""
    if settings.RUNNING_IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        missing_service(f"needs PostgreSQL (DATABASE_URL), not {connection.vendor}")


@pytest.fixture
def postgresql(django_db_setup) -> None:
    """The test database must be PostgreSQL (fails in CI, skips locally otherwise)."""
    require_postgresql()


@pytest.fixture
def postgresql_database_url(postgresql) -> str:
    """DATABASE_URL of the PostgreSQL test database, for a worker process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private ``redis-server`` on a free port of 127.0.0.1, without persistence.

    ``stop()`` and ``start()`` again keep the port (clients reconnect to the same URL); what
    it held is gone, as after a crash of a Redis without persistence.
    """

    def __init__(self, directory: Path, binary: str):
        self.directory = directory
        self.binary = binary
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert not self.running, "redis-server is already running"
        self.starts += 1
        log = self.directory / f"redis-{self.starts}.log"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_SECONDS
        while not self.answers():
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited ({self.process.returncode}): {tail}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer within {START_SECONDS} s")
            time.sleep(0.02)

    def answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Shut it down (SIGTERM); SIGKILL if it takes too long."""
        if not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(timeout=STOP_SECONDS)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    """A running private redis-server, always killed at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed (apt-get install redis-server)")
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory, binary)
    try:
        try:
            server.start()
        except RuntimeError:
            # The free port may have been taken in between: one more try on another.
            server.port = _free_port()
            server.start()
        yield server
    finally:
        server.kill()


def _forget_broker_connections() -> None:
    """Drop the app's broker and producer pools so the next publish connects afresh."""
    from kombu import pools

    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    pools.reset()


@contextmanager
def celery_and_cache_on(url: str) -> Iterator[None]:
    """Celery's broker and the Django cache on ``url``; tasks really go to the broker.

    Everything (broker URL, eager mode, connection pools, cache handlers) is restored after.
    """
    conf = celery_app.conf
    previous = (conf.broker_url, conf.task_always_eager)
    _forget_broker_connections()
    conf.broker_url = url
    conf.task_always_eager = False
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    try:
        with override_settings(CACHES=caches):
            yield
    finally:
        _forget_broker_connections()
        conf.broker_url, conf.task_always_eager = previous


REPO_ROOT = Path(__file__).resolve().parents[2]


# One task at a time, and nothing between workers that would slow a start or a kill.
WORKER_COMMAND = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "digest_site",
    "worker",
    "--pool=solo",
    "--concurrency=1",
    "-l",
    "info",
    "--without-heartbeat",
    "--without-gossip",
    "--without-mingle",
]


class Worker:
    """One ``celery worker`` process (solo pool), logging to its own file."""

    def __init__(self, *, env: dict[str, str], log: Path):
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                WORKER_COMMAND,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """Warm shutdown (the task in hand finishes); SIGKILL if it takes too long."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)
        return self.process.returncode

    def print_log(self, lines: int = 150) -> None:
        tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        print(f"----- {self.log.name} (last {len(tail)} lines) -----", *tail, sep="\n")


def wait_until(condition, *, seconds: float, waiting_for: str, worker: Worker | None = None):
    """Poll ``condition`` every 20 ms for at most ``seconds``; fail saying what we waited for."""
    deadline = time.monotonic() + seconds
    while not condition():
        if worker is not None:
            assert worker.alive(), f"the worker exited ({worker.process.returncode}) {waiting_for}"
        assert time.monotonic() < deadline, f"gave up after {seconds:.0f} s {waiting_for}"
        time.sleep(0.02)
