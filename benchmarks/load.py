"""Load test: the site under gunicorn on PostgreSQL with many papers, driven from this process.

What it does
    1. Creates the PostgreSQL database of ``--database-url`` if it does not exist, runs
       ``manage.py migrate`` and fills it with ``--papers`` synthetic papers (made from the seed
       listing's real titles and abstracts, ``--per-day`` papers featured per day, tagged with
       topics) by running ``benchmarks/seed_papers.py``. Filling is idempotent: a database that
       already has the papers is reused as it is.
    2. Starts gunicorn (``--workers`` workers, ``--worker-class`` sync or gthread) on
       127.0.0.1 and a free port, production-like: ``DEBUG`` unset, a throw-away
       ``SECRET_KEY``, ``ALLOWED_HOSTS=127.0.0.1``, ``REDIS_URL`` = ``--redis-url`` (Django
       cache and Celery broker; sign-ups only queue their confirmation email, no worker runs),
       ``SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR`` raised so every sign-up from 127.0.0.1 is
       accepted, and ``VAR_DIR`` in a temporary directory. Waits until it answers.
    3. Runs each scenario for ``--seconds`` with ``--concurrency`` clients, after a short
       warm-up that is not counted:

       - ``home``: ``GET /`` (the latest day, ``--per-day`` papers);
       - ``paper``: ``GET /papers/<id>/``, ids drawn from the database;
       - ``subscribe``: ``GET /subscribe/`` (keeps the csrftoken cookie and the form's token),
         then ``POST /subscribe/`` with a unique address, ``topics=face-analysis``,
         ``frequency=daily``; success is a 302 to ``/subscribe/check-inbox/``. The GET and the
         POST are reported on their own rows.

       Clients are asyncio tasks speaking HTTP/1.1 over raw sockets (standard library only;
       one connection per request, ``Connection: close``, as a reverse proxy talks to
       gunicorn's sync workers). A request's latency runs from opening the connection to the
       last byte of the response. An error is an exception, a timeout (``--timeout``) or an
       unexpected status (not 2xx/3xx, or not the 302 a sign-up must give); latencies are
       those of the successful requests.
    4. Prints one row per request kind: requests, errors, requests/s, p50/p95/p99/max latency
       (ms), the machine's CPU use and this process's (the load generator shares the
       machine), the CPU milliseconds per request of the gunicorn workers and of the
       PostgreSQL backends (these stay meaningful when other work shares the machine), then
       whether the target holds: ``GET /`` p95 under 100 ms at 50 clients, and no error in
       any scenario.

    Every request goes to 127.0.0.1. Every loop is bounded both by time and by
    ``--max-requests``; each request by ``--timeout``. gunicorn is stopped (SIGTERM, then
    SIGKILL of its own process group) in a ``finally`` block.

    Redis: the sign-ups queue Celery tasks that no worker here consumes, so the
    ``--redis-url`` database must be one nothing else uses (11 by default; CI uses 15). The
    script refuses a database another client is connected to or that holds keys the server
    did not write, and deletes what the server wrote (the queue, the cache entries) at the
    end.

How to run (from the repository root)
    .venv/bin/python benchmarks/load.py --papers 50000 --concurrency 50 --seconds 30
    .venv/bin/python benchmarks/load.py --quick      # CI: 2,000 papers, 5 s per scenario
    .venv/bin/python benchmarks/load.py --worker-class gthread --threads 4
    .venv/bin/python benchmarks/load.py --scenarios home --py-spy var/profile   # profile `/`

    Needs gunicorn (and, for ``--py-spy``, py-spy) in the virtualenv, PostgreSQL and Redis.
    The first run fills the database (50,000 papers: under a minute); later runs reuse it.
    ``--quick`` uses its own database (``paper_digest_load_quick``) and 1 s of warm-up.
    ``--json FILE`` also writes the figures as JSON. Exits 0 whatever the figures, unless
    ``--strict`` is given (then 1 when the target is missed); 2 when the run itself failed
    (a service missing, gunicorn not starting).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address this script ever sends a request to

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/paper_digest_load"
QUICK_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/paper_digest_load_quick"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
# What the server writes to its Redis database: the Celery queue and bindings, Django cache
# entries (Django's default key prefix is ":1:") and the sign-up limits' logs.
_OWN_REDIS_KEYS = ("celery", "_kombu.binding*", ":1:*", "paper-digest:ratelimit:*")

TARGET_PATH_LABEL = "GET /"
TARGET_P95_MS = 100.0
TARGET_CONCURRENCY = 50
TARGET_PAPERS = 50_000

SCENARIOS = ("home", "paper", "subscribe")
SUBSCRIBE_TOPIC = "face-analysis"
STARTUP_SECONDS = 60
MIGRATE_SECONDS = 600
SEED_SECONDS = 3600

_CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- A minimal HTTP/1.1 client over asyncio streams ---------------------------------------


class ProtocolError(Exception):
    """The server's answer was not a complete HTTP response."""


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def cookies(self) -> dict[str, str]:
        found = {}
        for key, value in self.headers:
            if key == "set-cookie":
                pair = value.split(";", 1)[0]
                cookie_name, _, cookie_value = pair.partition("=")
                found[cookie_name.strip()] = cookie_value.strip()
        return found


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise ProtocolError("truncated chunked body")
        size = int(body[position:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        start = line_end + 2
        if start + size > len(body):
            raise ProtocolError("truncated chunked body")
        out += body[start : start + size]
        position = start + size + 2


def parse_response(data: bytes) -> Response:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        raise ProtocolError(f"incomplete response ({len(data)} bytes)")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {lines[0][:60]!r}")
    headers = []
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers.append((key.strip().lower(), value.strip()))
    response = Response(int(parts[1]), headers, body)
    if (response.header("transfer-encoding") or "").lower() == "chunked":
        response.body = _dechunk(body)
    elif (length := response.header("content-length")) is not None and int(length) != len(body):
        raise ProtocolError(f"body is {len(body)} bytes, Content-Length says {length}")
    return response


async def http_request(
    port: int,
    method: str,
    path: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float,
) -> Response:
    """One request on a fresh connection to 127.0.0.1:``port``; the whole answer is read."""

    async def exchange() -> Response:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            lines = [
                f"{method} {path} HTTP/1.1",
                f"Host: {HOST}:{port}",
                "Connection: close",
                "User-Agent: paper-digest-load-test",
                *(f"{key}: {value}" for key, value in headers),
            ]
            if body or method == "POST":
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            data = await reader.read()  # to EOF: the server closes after the response
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return parse_response(data)

    return await asyncio.wait_for(exchange(), timeout)


# --- Scenarios ----------------------------------------------------------------------------


@dataclass
class Stats:
    """What one kind of request did during a measured run."""

    label: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.errors.values())


@dataclass
class ScenarioResult:
    name: str
    concurrency: int
    seconds: float
    stats: list[Stats]
    machine_busy: float  # share of all cores' time spent busy, 0-1
    client_cpu: float  # this process's CPU seconds / wall seconds (1.0 = one core)
    server_cpu: float  # CPU seconds of the gunicorn workers during the run
    database_cpu: float  # CPU seconds of the PostgreSQL backends serving the load database
    other_processes: Counter[str]  # CPU seconds of every other process, by label


Check = Callable[[Response], str | None]


def expect_status(*statuses: int) -> Check:
    def check(response: Response) -> str | None:
        return None if response.status in statuses else f"HTTP {response.status}"

    return check


def expect_success(response: Response) -> str | None:
    return None if 200 <= response.status < 400 else f"HTTP {response.status}"


class Scenario:
    """A named sequence of requests one client repeats; each request kind has its ``Stats``."""

    name = ""
    labels: tuple[str, ...] = ()

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.stats: dict[str, Stats] = {}
        self.reset()

    def reset(self) -> None:
        self.stats = {label: Stats(label) for label in self.labels}

    async def timed(
        self,
        label: str,
        method: str,
        path: str,
        check: Check,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Response | None:
        """Send one request, record its latency (or its error); the response if it passed."""
        stats = self.stats[label]
        started = time.perf_counter()
        try:
            response = await http_request(
                self.port, method, path, headers=headers, body=body, timeout=self.timeout
            )
        except TimeoutError:
            stats.errors["timeout"] += 1
            return None
        except (OSError, ProtocolError, ValueError) as error:
            stats.errors[type(error).__name__] += 1
            await asyncio.sleep(0.01)  # a refused connection must not become a busy loop
            return None
        elapsed = time.perf_counter() - started
        problem = check(response)
        if problem:
            stats.errors[problem] += 1
            return None
        stats.latencies.append(elapsed)
        return response

    async def step(self, client: int) -> None:
        raise NotImplementedError


class HomeScenario(Scenario):
    name = "home"
    labels = (TARGET_PATH_LABEL,)

    async def step(self, client: int) -> None:
        await self.timed(TARGET_PATH_LABEL, "GET", "/", expect_status(200))


class PaperScenario(Scenario):
    name = "paper"
    labels = ("GET /papers/<id>/",)

    def __init__(self, port: int, timeout: float, paper_ids: Sequence[int]) -> None:
        super().__init__(port, timeout)
        self.paper_ids = list(paper_ids)
        self.random = random.Random(0)

    async def step(self, client: int) -> None:
        paper_id = self.random.choice(self.paper_ids)
        await self.timed(self.labels[0], "GET", f"/papers/{paper_id}/", expect_status(200))


class SubscribeScenario(Scenario):
    name = "subscribe"
    labels = ("GET /subscribe/", "POST /subscribe/")

    def __init__(self, port: int, timeout: float) -> None:
        super().__init__(port, timeout)
        self.run_id = f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        self.sent = 0

    @staticmethod
    def check_redirect(response: Response) -> str | None:
        if response.status != 302:
            return f"HTTP {response.status}"
        if not (response.header("location") or "").endswith("/subscribe/check-inbox/"):
            return "redirect elsewhere"
        return None

    async def step(self, client: int) -> None:
        form = await self.timed("GET /subscribe/", "GET", "/subscribe/", expect_status(200))
        if form is None:
            return
        cookie = form.cookies().get("csrftoken")
        match = _CSRF_FIELD.search(form.body)
        if not cookie or not match:
            self.stats["GET /subscribe/"].errors["no CSRF token"] += 1
            return
        self.sent += 1
        fields = {
            "csrfmiddlewaretoken": match.group(1).decode(),
            "email": f"load-{self.run_id}-{self.sent}@example.org",
            "topics": SUBSCRIBE_TOPIC,
            "frequency": "daily",
        }
        await self.timed(
            "POST /subscribe/",
            "POST",
            "/subscribe/",
            self.check_redirect,
            headers=[
                ("Cookie", f"csrftoken={cookie}"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body=urllib.parse.urlencode(fields).encode(),
        )


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcessCpu:
    parent: int
    label: str
    cpu_seconds: float  # user + system, so far


def _process_label(pid: int, name: str) -> str:
    """A short name: ``postgres: <user> <database> ...`` for PostgreSQL, the script for Python."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:4]
    except OSError:
        return name
    words = [word.decode(errors="replace") for word in argv if word]
    if name == "postgres" and words:
        return words[0]  # the process title names the database of a backend
    if name.startswith("python") and len(words) > 1:
        script = words[2] if words[1] == "-m" and len(words) > 2 else Path(words[1]).name
        return f"{name} {script}"
    return name


def cpu_snapshot() -> dict[int, ProcessCpu]:
    """Every process's parent, label and CPU seconds so far, from /proc (Linux)."""
    snapshot = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()  # state, ppid, ... utime is the 12th
        pid = int(entry.name)
        snapshot[pid] = ProcessCpu(
            int(fields[1]),
            _process_label(pid, name),
            (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS,
        )
    return snapshot


@dataclass
class CpuProbe:
    """Who used the CPU between two snapshots: the server's workers, the load database's
    PostgreSQL backends (their title is ``postgres: <user> <database> <client>``), and the
    rest of the machine by process (this script excepted).

    A process that ended between the snapshots is missed (a backend replaced when its
    connection reached ``DB_CONN_MAX_AGE``); one that started is counted from its start.
    """

    server_pid: int
    database: str

    def usage(
        self, before: dict[int, ProcessCpu], after: dict[int, ProcessCpu]
    ) -> tuple[float, float, Counter[str]]:
        server = database = 0.0
        others: Counter[str] = Counter()
        for pid, process in after.items():
            used = process.cpu_seconds - (before[pid].cpu_seconds if pid in before else 0.0)
            if pid == os.getpid() or used <= 0:
                continue
            if process.parent == self.server_pid or pid == self.server_pid:
                server += used
            elif process.label.startswith("postgres:") and f" {self.database} " in process.label:
                database += used
            else:
                others[process.label.split(" 127.0.0.1")[0][:60]] += used
        return server, database, others


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat (Linux)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


async def drive(scenario: Scenario, *, concurrency: int, seconds: float, max_steps: int) -> float:
    """``concurrency`` clients repeat the scenario until ``seconds`` or ``max_steps`` pass."""
    deadline = time.monotonic() + seconds
    budget = [max_steps]

    async def client(number: int) -> None:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            await scenario.step(number)

    started = time.perf_counter()
    # Each client stops at the deadline, after at most one more request (bounded by timeout).
    await asyncio.wait_for(
        asyncio.gather(*(client(n) for n in range(concurrency))),
        timeout=seconds + 2 * scenario.timeout + 5,
    )
    return time.perf_counter() - started


async def run_scenario(
    scenario: Scenario,
    *,
    concurrency: int,
    seconds: float,
    warmup_seconds: float,
    max_requests: int,
    probe: CpuProbe,
) -> ScenarioResult:
    if warmup_seconds > 0:
        await drive(
            scenario, concurrency=concurrency, seconds=warmup_seconds, max_steps=max_requests
        )
    scenario.reset()
    busy_before, total_before = _cpu_times()
    cpu_before = time.process_time()
    processes_before = cpu_snapshot()
    elapsed = await drive(
        scenario, concurrency=concurrency, seconds=seconds, max_steps=max_requests
    )
    cpu = time.process_time() - cpu_before
    busy_after, total_after = _cpu_times()
    server_cpu, database_cpu, others = probe.usage(processes_before, cpu_snapshot())
    return ScenarioResult(
        name=scenario.name,
        concurrency=concurrency,
        seconds=elapsed,
        stats=list(scenario.stats.values()),
        machine_busy=(busy_after - busy_before) / max(1, total_after - total_before),
        client_cpu=cpu / elapsed if elapsed else 0.0,
        server_cpu=server_cpu,
        database_cpu=database_cpu,
        other_processes=others,
    )


# --- Figures ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when there are none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(result: ScenarioResult) -> list[dict[str, object]]:
    rows = []
    all_requests = max(1, sum(stats.requests for stats in result.stats))
    for stats in result.stats:
        ordered = sorted(stats.latencies)
        rows.append(
            {
                "scenario": result.name,
                "request": stats.label,
                "concurrency": result.concurrency,
                "seconds": round(result.seconds, 2),
                "requests": stats.requests,
                "errors": sum(stats.errors.values()),
                "error_kinds": dict(stats.errors),
                "requests_per_second": round(stats.requests / result.seconds, 1)
                if result.seconds
                else 0.0,
                "p50_ms": round(percentile(ordered, 0.50) * 1000, 1),
                "p95_ms": round(percentile(ordered, 0.95) * 1000, 1),
                "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
                "max_ms": round(ordered[-1] * 1000, 1) if ordered else math.nan,
                "machine_cpu_percent": round(result.machine_busy * 100),
                "client_cpu_percent": round(result.client_cpu * 100),
                # Everything else the machine did meanwhile (other programs, the kernel's
                # share not charged to these processes), 100 = one core.
                "other_cpu_percent": round(
                    100
                    * max(
                        0.0,
                        result.machine_busy * (os.cpu_count() or 1)
                        - result.client_cpu
                        - (result.server_cpu + result.database_cpu) / max(result.seconds, 1e-9),
                    )
                ),
                # CPU per request of the whole scenario (a sign-up's GET and POST together).
                "server_cpu_ms": round(1000 * result.server_cpu / all_requests, 2),
                "database_cpu_ms": round(1000 * result.database_cpu / all_requests, 2),
                "other_processes_percent": {
                    label: round(100 * seconds / result.seconds)
                    for label, seconds in result.other_processes.most_common(4)
                    if result.seconds and seconds / result.seconds >= 0.02
                },
            }
        )
    return rows


def print_table(rows: Sequence[dict[str, object]]) -> None:
    columns = (
        ("request", "request", "<20"),
        ("requests", "requests", ">8"),
        ("errors", "errors", ">6"),
        ("req/s", "requests_per_second", ">7"),
        ("p50 ms", "p50_ms", ">7"),
        ("p95 ms", "p95_ms", ">7"),
        ("p99 ms", "p99_ms", ">7"),
        ("max ms", "max_ms", ">7"),
        ("cpu %", "machine_cpu_percent", ">5"),
        ("client %", "client_cpu_percent", ">8"),
        ("other %", "other_cpu_percent", ">7"),
        ("app cpu", "server_cpu_ms", ">7"),
        ("db cpu", "database_cpu_ms", ">6"),
    )
    print("  ".join(f"{title:{spec}}" for title, _, spec in columns))
    for row in rows:
        print("  ".join(f"{row[key]!s:{spec}}" for _, key, spec in columns))
        if row["error_kinds"]:
            kinds = ", ".join(f"{kind}: {count}" for kind, count in row["error_kinds"].items())
            print(f"  {'':<20}errors: {kinds}")
    seen = set()
    for row in rows:
        if row["scenario"] in seen or not row["other_processes_percent"]:
            continue
        seen.add(row["scenario"])
        busiest = ", ".join(f"{k} {v}%" for k, v in row["other_processes_percent"].items())
        print(f"other processes during {row['scenario']}: {busiest}")
    print(
        "cpu % = the whole machine's busy share during the run (all cores); client % = this"
        " load generator's CPU (100 = one core); other % = the rest of the machine's CPU use"
        " (other processes, interrupts; 100 = one core); app cpu / db cpu = CPU ms per"
        " request of the gunicorn workers / of the PostgreSQL backends (a scenario's"
        " requests together)."
    )


def verdict(rows: Sequence[dict[str, object]], arguments: argparse.Namespace) -> tuple[bool, str]:
    home = next((row for row in rows if row["request"] == TARGET_PATH_LABEL), None)
    if home is None:
        return False, "target not measured: the home scenario did not run"
    errors = sum(int(row["errors"]) for row in rows)
    p95 = float(home["p95_ms"])
    passed = p95 < TARGET_P95_MS and errors == 0
    text = (
        f"target `/` p95 < {TARGET_P95_MS:.0f} ms at {TARGET_CONCURRENCY} clients, no errors: "
        f"{'PASS' if passed else 'FAIL'} (p95 {p95:.1f} ms at {arguments.concurrency} clients, "
        f"{errors} error{'s' if errors != 1 else ''})"
    )
    if arguments.concurrency != TARGET_CONCURRENCY or arguments.papers < TARGET_PAPERS:
        text += (
            f" [measured with {arguments.concurrency} clients and {arguments.papers:,} papers:"
            " not the target configuration]"
        )
    return passed, text


# --- Services: PostgreSQL, Redis, gunicorn ------------------------------------------------


class RunFailed(Exception):
    """The load test could not run (as opposed to: it ran and the figures are bad)."""


def _pg_connect(url: str, *, dbname: str | None = None):
    import psycopg

    parts = urllib.parse.urlsplit(url)
    try:
        return psycopg.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=urllib.parse.unquote(parts.username or "postgres"),
            password=urllib.parse.unquote(parts.password) if parts.password else None,
            dbname=dbname or parts.path.lstrip("/"),
            autocommit=True,
            connect_timeout=10,
        )
    except psycopg.Error as error:
        raise RunFailed(f"PostgreSQL at {parts.hostname}:{parts.port or 5432}: {error}") from None


def ensure_database(url: str) -> None:
    from psycopg import sql

    name = urllib.parse.urlsplit(url).path.lstrip("/")
    if not name:
        raise RunFailed(f"{url}: no database name")
    with _pg_connect(url, dbname="postgres") as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def database_facts(url: str, sample: int) -> dict[str, object]:
    with _pg_connect(url) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
        papers, days, latest = connection.execute(
            "SELECT count(*), count(DISTINCT featured_on), max(featured_on) FROM papers_paper"
        ).fetchone()
        on_latest = connection.execute(
            "SELECT count(*) FROM papers_paper WHERE featured_on = %s AND NOT hidden", [latest]
        ).fetchone()[0]
        tags = connection.execute("SELECT count(*) FROM papers_papertopic").fetchone()[0]
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM papers_paper WHERE NOT hidden ORDER BY random() LIMIT %s", [sample]
            )
        ]
    return {
        "postgresql": version,
        "papers": papers,
        "featured_days": days,
        "latest_day": str(latest),
        "papers_on_latest_day": on_latest,
        "topic_tags": tags,
        "paper_ids": ids,
    }


def run_command(command: Sequence[str], *, env: dict[str, str], timeout: float, what: str) -> None:
    print(f"$ {' '.join(command)}", flush=True)
    try:
        completed = subprocess.run(command, cwd=REPO_ROOT, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"{what} took more than {timeout:.0f} s") from None
    if completed.returncode:
        raise RunFailed(f"{what} failed (exit {completed.returncode})")


def claim_redis(url: str) -> None:
    """Refuse a Redis database another client uses or that holds keys the server did not write.

    The sign-ups queue Celery tasks there and nothing consumes them: in a database a worker
    listens to, they would be run against another database's subscribers.
    """
    import fnmatch

    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        database = int(client.connection_pool.connection_kwargs.get("db") or 0)
        me = client.client_id()
        others = [
            c
            for c in client.client_list()
            if int(c.get("db", -1)) == database and int(c["id"]) != me
        ]
        foreign = [
            key.decode(errors="replace")
            for key in client.scan_iter(count=1000)
            if not any(
                fnmatch.fnmatchcase(key.decode(errors="replace"), p) for p in _OWN_REDIS_KEYS
            )
        ]
    except redis.RedisError as error:
        raise RunFailed(f"Redis at {url}: {error}") from None
    if others or foreign:
        raise RunFailed(
            f"Redis database {database} is in use ({len(others)} other client(s), keys such as"
            f" {foreign[:3]}); pass --redis-url with a database nothing else uses"
        )


def release_redis(url: str) -> int:
    """Delete what the server wrote (queued tasks, cache entries); return how many tasks."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    queued = int(client.llen("celery"))
    for pattern in _OWN_REDIS_KEYS:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    return queued


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_environment(arguments: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "REDIS_URL", "CI"}}
    env.update(
        DATABASE_URL=arguments.database_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR=str(10**9),
        VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="digest_site.settings",
        PYTHONUNBUFFERED="1",
    )
    if arguments.redis_url:
        env["REDIS_URL"] = arguments.redis_url
    return env


@dataclass
class Gunicorn:
    process: subprocess.Popen
    port: int
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_problems(self) -> list[str]:
        """The log lines that are not routine INFO (sign-ups log one line each)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line.strip() and " INFO " not in line]

    def worker_pids(self) -> list[int]:
        return sorted(
            pid for pid, process in cpu_snapshot().items() if process.parent == self.process.pid
        )


def start_gunicorn(arguments: argparse.Namespace, env: dict[str, str], log_path: Path) -> Gunicorn:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "digest_site.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(arguments.workers),
        "--worker-class",
        arguments.worker_class,
        "--timeout",
        "60",
        "--graceful-timeout",
        "10",
        "--log-level",
        "warning",
        "--error-logfile",
        "-",
    ]
    if arguments.worker_class == "gthread":
        command += ["--threads", str(arguments.threads)]
    print(f"$ {' '.join(command[1:])}", flush=True)
    with open(log_path, "wb") as log:
        # Its own session: a Ctrl-C here reaches this script, whose finally stops gunicorn.
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Gunicorn(process, port, log_path)


def wait_until_ready(server: Gunicorn, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_problem = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RunFailed(
                f"gunicorn exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            response = asyncio.run(http_request(server.port, "GET", "/", timeout=10))
            if response.status == 200:
                return
            last_problem = f"HTTP {response.status}"
        except (OSError, ProtocolError, TimeoutError) as error:
            last_problem = type(error).__name__
        time.sleep(0.25)
    raise RunFailed(f"gunicorn did not answer within {timeout:.0f} s ({last_problem})")


def stop_gunicorn(server: Gunicorn) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)  # its own group only
            server.process.wait(timeout=10)
    print(f"gunicorn stopped (exit {server.process.returncode})")


# --- Profiling (optional) -----------------------------------------------------------------


def start_py_spy(server: Gunicorn, directory: Path, name: str, seconds: float) -> list:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise RunFailed("--py-spy needs py-spy: pip install py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    processes = []
    for number, pid in enumerate(server.worker_pids(), 1):
        output = directory / f"{name}-worker{number}.txt"
        command = [
            py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
            "--rate", "200", "--format", "raw", "--output", str(output), "--nonblocking",
        ]  # fmt: skip
        processes.append(
            (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), output)
        )
    return processes


def finish_py_spy(processes: list, timeout: float) -> list[Path]:
    outputs = []
    for process, output in processes:
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        if output.exists():
            outputs.append(output)
        else:
            print(f"py-spy wrote nothing: {stderr.decode(errors='replace').strip()[-300:]}")
    return outputs


_PLUMBING = ("gunicorn/", "<frozen runpy>", "django/core/handlers/", "deprecation.py", "iddleware")


def summarise_profiles(paths: Sequence[Path], top: int = 30) -> None:
    """Print where the workers spent their samples, from py-spy's raw (collapsed) stacks.

    Inclusive: samples inside a function or what it called (server plumbing left out).
    Self: samples in the function itself.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            samples = int(count)
            total += samples
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            own[frames[-1]] += samples
            for frame in set(frames):
                if not any(part in frame for part in _PLUMBING):
                    inclusive[frame] += samples
    if not total:
        print("py-spy: no samples")
        return
    print(f"py-spy: {total} samples (busy workers); inclusive share:")
    for frame, samples in inclusive.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {frame[:140]}")
    print("self share:")
    for frame, samples in own.most_common(top // 2):
        print(f"  {100 * samples / total:5.1f}%  {frame[:140]}")


# --- Main ---------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, default=None, help="default 50000 (2000 --quick)")
    parser.add_argument("--per-day", type=int, default=100, help="papers featured per day")
    parser.add_argument("--concurrency", type=int, default=TARGET_CONCURRENCY)
    parser.add_argument(
        "--seconds", type=float, default=None, help="per scenario; default 30 (5 --quick)"
    )
    parser.add_argument("--warmup-seconds", type=float, default=None, help="default 3 (1 --quick)")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="per scenario (a scenario step)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--database-url", default=None, help=f"default {DEFAULT_DATABASE_URL}")
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="cache and broker of the server; '' for none (local-memory cache, tasks in-process)",
    )
    parser.add_argument("--quick", action="store_true", help="CI: fewer papers, shorter runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="DIR", help="profile the workers (py-spy)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    arguments = parser.parse_args(argv)
    quick = arguments.quick
    if arguments.papers is None:
        arguments.papers = 2_000 if quick else TARGET_PAPERS
    if arguments.seconds is None:
        arguments.seconds = 5.0 if quick else 30.0
    if arguments.warmup_seconds is None:
        arguments.warmup_seconds = 1.0 if quick else 3.0
    if arguments.database_url is None:
        arguments.database_url = QUICK_DATABASE_URL if quick else DEFAULT_DATABASE_URL
    arguments.scenarios = [name.strip() for name in arguments.scenarios.split(",") if name.strip()]
    unknown = set(arguments.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; know {SCENARIOS}")
    if not 0 < arguments.seconds <= 300 or not 0 <= arguments.warmup_seconds <= 60:
        parser.error("--seconds must be in (0, 300] and --warmup-seconds in [0, 60]")
    if not 1 <= arguments.concurrency <= 1000 or arguments.max_requests < 1:
        parser.error("--concurrency must be in [1, 1000] and --max-requests positive")
    if not urllib.parse.urlsplit(arguments.database_url).scheme.startswith("postgres"):
        parser.error("--database-url must be a postgres:// URL")
    return arguments


def machine_facts() -> dict[str, object]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), ""
        )
    memory_gib = 0.0
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
        memory_gib = kib / 2**20

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory_gib, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "django": version("django"),
        "gunicorn": version("gunicorn"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    facts = machine_facts()
    print(
        f"machine: {facts['cores']} cores ({facts['cpu']}), {facts['memory_gib']} GiB, "
        f"Python {facts['python']}, Django {facts['django']}, gunicorn {facts['gunicorn']}"
    )
    if facts["gunicorn"] == "not installed":
        print("gunicorn is not installed: pip install gunicorn", file=sys.stderr)
        return 2

    work_dir = Path(tempfile.mkdtemp(prefix="paper-digest-load-"))
    server: Gunicorn | None = None
    rows: list[dict[str, object]] = []
    redis_claimed = False
    try:
        # 1. The database.
        ensure_database(arguments.database_url)
        if arguments.redis_url:
            claim_redis(arguments.redis_url)
            redis_claimed = True
        env = server_environment(arguments, work_dir / "var")
        run_command(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            env=env,
            timeout=MIGRATE_SECONDS,
            what="migrate",
        )
        run_command(
            [
                sys.executable,
                "benchmarks/seed_papers.py",
                "--papers",
                str(arguments.papers),
                "--per-day",
                str(arguments.per_day),
            ],
            env=env,
            timeout=SEED_SECONDS,
            what="filling the database",
        )
        database = database_facts(arguments.database_url, sample=5000)
        paper_ids = database.pop("paper_ids")
        print(
            f"database: PostgreSQL {database['postgresql']}, {database['papers']:,} papers over "
            f"{database['featured_days']} days, {database['papers_on_latest_day']} on the latest "
            f"({database['latest_day']}), {database['topic_tags']:,} topic tags"
        )
        if not paper_ids:
            raise RunFailed("the database has no visible paper")

        database_name = urllib.parse.urlsplit(arguments.database_url).path.lstrip("/")

        # 2. The server.
        server = start_gunicorn(arguments, env, work_dir / "gunicorn.log")
        wait_until_ready(server, STARTUP_SECONDS)
        print(
            f"gunicorn: {arguments.workers} {arguments.worker_class} workers"
            + (f" x {arguments.threads} threads" if arguments.worker_class == "gthread" else "")
            + f" on {HOST}:{server.port}; {arguments.concurrency} clients, "
            f"{arguments.seconds:g} s per scenario after {arguments.warmup_seconds:g} s warm-up"
        )

        # 3. The scenarios.
        factories: dict[str, Callable[[], Scenario]] = {
            "home": lambda: HomeScenario(server.port, arguments.timeout),
            "paper": lambda: PaperScenario(server.port, arguments.timeout, paper_ids),
            "subscribe": lambda: SubscribeScenario(server.port, arguments.timeout),
        }
        for name in arguments.scenarios:
            scenario = factories[name]()
            profilers = []
            if arguments.py_spy is not None:
                # Starts with the warm-up and lasts into the measured run: only its steady part
                # matters, and a profile slows the workers, so profile and measure separately.
                profilers = start_py_spy(
                    server, arguments.py_spy, name, arguments.warmup_seconds + arguments.seconds
                )
            print(f"running {name}...", flush=True)
            result = asyncio.run(
                run_scenario(
                    scenario,
                    concurrency=arguments.concurrency,
                    seconds=arguments.seconds,
                    warmup_seconds=arguments.warmup_seconds,
                    max_requests=arguments.max_requests,
                    probe=CpuProbe(server.process.pid, database_name),
                )
            )
            rows.extend(summarise(result))
            if profilers:
                outputs = finish_py_spy(profilers, timeout=30)
                print(f"py-spy: {', '.join(str(path) for path in outputs)}")
                summarise_profiles(outputs)
            if server.process.poll() is not None:
                raise RunFailed(f"gunicorn died during {name}:\n{server.log_tail()}")
    except (RunFailed, TimeoutError) as error:
        print(f"load test could not run: {error or type(error).__name__}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            stop_gunicorn(server)
            problems = server.log_problems()
            if problems:
                print(f"gunicorn logged {len(problems)} warning/error lines; the last ones:")
                print("\n".join(problems[-15:]))
        if arguments.redis_url and redis_claimed:
            with contextlib.suppress(Exception):
                queued = release_redis(arguments.redis_url)
                print(
                    f"Redis: deleted the {queued} queued confirmation tasks and the cache entries"
                )
        shutil.rmtree(work_dir, ignore_errors=True)

    print()
    print_table(rows)
    passed, text = verdict(rows, arguments)
    print(text)
    if arguments.json is not None:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(
            json.dumps(
                {
                    "machine": facts,
                    "database": database,
                    "arguments": {
                        key: (str(value) if isinstance(value, Path) else value)
                        for key, value in vars(arguments).items()
                    },
                    "rows": rows,
                    "target": text,
                },
                indent=2,
                default=str,
            )
        )
    return 1 if arguments.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
