"""The fake Postmark API's behaviour: what it answers, what it counts, which webhooks it posts.

``fake_esp.py`` runs it (``FakePostmark(knobs).serve(...)``) and starts it for callers.
Answers follow Postmark's API and the way anymail's Postmark backend reads them
(``anymail/backends/postmark.py``): a single send answers 200 with ``{"To", "SubmittedAt",
"MessageID", "ErrorCode": 0, "Message": "OK"}`` or 422 with ``{"ErrorCode", "Message"}``; a
batch answers 200 with one of those per message; error messages use the wording anymail parses
to tell an invalid recipient (300) or an inactive one (406) from any other error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import random
import signal
import time
from collections import Counter, deque
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.http11 import (
    MAX_HEAD_BYTES,
    HttpError,
    Request,
    WebhookPoster,
    read_request,
    response_bytes,
)
from benchmarks.postmark_api import (
    INVALID_JSON,
    MAX_BATCH,
    NO_TOKEN,
    check_message,
    delivery_event,
    error,
    message_id_header,
    utc_now_iso,
)

EXAMPLES = 20  # duplicate recipients / Message-IDs named in /stats


def _knob(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class Knobs:
    """How the fake behaves; each field is a flag too (``rate_429``: ``--rate-429``)."""

    latency_ms: float = _knob(0.0, "added to every API request's answer")
    jitter_ms: float = _knob(0.0, "latency +/- this, uniformly (never below 0)")
    error_rate: float = _knob(0.0, "fraction of API requests answered 500 or 503")
    rate_429: float = _knob(0.0, "fraction answered 429 with Retry-After")
    retry_after: int = _knob(1, "the Retry-After of those 429s, in seconds")
    max_rate: int = _knob(0, "API requests in any second above which it answers 429 (0: no cap)")
    lost_response_rate: float = _knob(
        0.0, "fraction of sends accepted, then the connection closed without an answer"
    )
    inactive: list[str] = dataclasses.field(
        default_factory=list,
        metadata={"help": "an address refused as inactive (ErrorCode 406); repeatable"},
    )
    events_url: str = _knob("", "post a Delivery webhook here per accepted recipient")
    events_delay_ms: float = _knob(100.0, "how long after the accept each webhook is posted")
    events_concurrency: int = _knob(4, "connections the webhooks are posted over")
    keep_messages: int = _knob(10_000, "how many accepted messages GET /messages returns")
    seed: int | None = _knob(None, "seed of the latency, error and 429 draws")

    def __post_init__(self) -> None:
        # Refused by name, so a typo in a benchmark's flags is not a silent 0.
        for name in ("error_rate", "rate_429", "lost_response_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {getattr(self, name)!r}")
        if self.error_rate + self.rate_429 > 1.0:
            raise ValueError("error_rate + rate_429 must not exceed 1")
        for name in ("latency_ms", "jitter_ms", "retry_after", "max_rate", "events_delay_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)!r}")
        if self.events_concurrency < 1 or self.keep_messages < 0:
            raise ValueError("events_concurrency must be >= 1 and keep_messages >= 0")
        if self.events_url and urlsplit(self.events_url).scheme != "http":
            raise ValueError(f"events_url must be an http:// URL, not {self.events_url!r}")
        self.inactive = [address.lower() for address in self.inactive]

    def to_argv(self) -> list[str]:
        """The command-line flags that give a server these knobs."""
        argv: list[str] = []
        for knob in dataclasses.fields(self):
            value = getattr(self, knob.name)
            flag = "--" + knob.name.replace("_", "-")
            if knob.name == "inactive":
                argv += [part for address in value for part in (flag, address)]
            elif value is not None and value != knob.default:
                argv += [flag, str(value)]
        return argv


def _problem(message: str) -> dict[str, str]:
    # Not a Postmark API error: no ErrorCode, whose 0 would read as success.
    return {"Message": message}


class Stats:
    """What the server counted since it started or was last reset."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.requests_by_endpoint: Counter[str] = Counter()
        self.responses_by_status: Counter[int] = Counter()
        self.rejected_by_error_code: Counter[int] = Counter()
        self.throttled_by_max_rate = 0
        self.lost_responses = 0
        self.messages_accepted = 0
        self.recipients_accepted = 0
        self.by_recipient: Counter[str] = Counter()
        self.by_message_id_header: Counter[str] = Counter()
        self.accepted_by_second: Counter[int] = Counter()  # whole seconds after first_accept
        self.first_accept: float | None = None
        self.last_accept: float | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections_opened = 0
        self.max_connections_open = 0

    def as_json(self, *, connections_open: int, events: WebhookPoster | None) -> dict[str, Any]:
        """The counts as ``GET /stats`` shows them (JSON-ready; duplicates summed up)."""

        def duplicates(counts: Counter[str]) -> tuple[int, int, dict[str, int]]:
            repeated = {key: n for key, n in counts.items() if n > 1}
            examples = dict(sorted(repeated.items(), key=lambda item: -item[1])[:EXAMPLES])
            return len(repeated), sum(n - 1 for n in repeated.values()), examples

        dup_recipients, extra_recipients, recipient_examples = duplicates(self.by_recipient)
        dup_ids, extra_ids, id_examples = duplicates(self.by_message_id_header)
        windows = max(self.accepted_by_second, default=-1) + 1
        per_second = [self.accepted_by_second.get(second, 0) for second in range(windows)]
        span = (self.last_accept or 0) - (self.first_accept or 0)
        cpu = os.times()
        return {
            "requests": self.requests,
            "requests_by_endpoint": dict(self.requests_by_endpoint),
            "responses_by_status": {str(k): n for k, n in self.responses_by_status.items()},
            "errors_by_status": {
                str(k): n for k, n in self.responses_by_status.items() if not 200 <= k < 300
            },
            "rejected_by_error_code": {str(k): n for k, n in self.rejected_by_error_code.items()},
            "throttled_by_max_rate": self.throttled_by_max_rate,
            "lost_responses": self.lost_responses,
            "messages_accepted": self.messages_accepted,
            "recipients_accepted": self.recipients_accepted,
            "unique_recipients": len(self.by_recipient),
            "duplicate_recipients": dup_recipients,
            "duplicate_deliveries": extra_recipients,
            "duplicate_recipient_examples": recipient_examples,
            "message_id_headers": len(self.by_message_id_header),
            "duplicate_message_ids": dup_ids,
            "duplicate_message_id_deliveries": extra_ids,
            "duplicate_message_id_examples": id_examples,
            "accepted_per_second": per_second,
            "max_accepted_in_a_second": max(per_second, default=0),
            "first_accept_at": self.first_accept,
            "last_accept_at": self.last_accept,
            "accept_span_seconds": span,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "connections_open": connections_open,
            "connections_opened": self.connections_opened,
            "max_connections_open": self.max_connections_open,
            "events_posted": events.posted if events else 0,
            "events_failed": events.failed if events else 0,
            "events_dropped": events.dropped if events else 0,
            "events_pending": events.pending if events else 0,
            "since": self.started,
            "server_cpu_seconds": cpu.user + cpu.system,
        }


@dataclasses.dataclass
class Reply:
    """An answer to one request, before it is written."""

    status: int
    payload: Any
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    lose: bool = False  # close the connection instead of answering


API_ENDPOINTS = {  # lower-cased path -> (endpoint name, batch?, template?)
    "/email": ("email", False, False),
    "/email/withtemplate": ("email/withTemplate", False, True),
    "/email/batch": ("email/batch", True, False),
    "/email/batchwithtemplates": ("email/batchWithTemplates", True, True),
}


class FakePostmark:
    """The fake's state and request handling; ``serve()`` runs it until it is told to stop."""

    def __init__(self, knobs: Knobs):
        self.knobs = knobs
        self.inactive = frozenset(knobs.inactive)
        self.rng = random.Random(knobs.seed)
        self.stats = Stats()
        self.kept: deque[dict[str, Any]] = deque(maxlen=knobs.keep_messages)
        self.connections: set[asyncio.Task[None]] = set()  # their handlers
        self.admitted: deque[float] = deque()  # when requests got past max_rate, last second
        self.events: WebhookPoster | None = None  # made in serve(): it needs the running loop

    # Connections

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one client connection: its requests in order, until either side closes it."""
        self.stats.connections_opened += 1
        handler = asyncio.current_task()
        assert handler is not None
        self.connections.add(handler)
        self.stats.max_connections_open = max(
            self.stats.max_connections_open, len(self.connections)
        )
        try:
            while True:
                try:
                    request = await read_request(reader, writer)
                except HttpError as unreadable:
                    problem = _problem(str(unreadable))
                    writer.write(response_bytes(unreadable.status, problem, keep_alive=False))
                    await writer.drain()
                    break
                if request is None:
                    break
                reply = await self.dispatch(request)
                if reply.lose:
                    writer.transport.abort()  # as if the network dropped the answer
                    break
                keep_alive = request.keep_alive
                writer.write(
                    response_bytes(
                        reply.status, reply.payload, keep_alive=keep_alive, headers=reply.headers
                    )
                )
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            # The server is stopping. Ending normally spares asyncio's streams a traceback
            # about a cancelled handler (Python 3.11).
            pass
        finally:
            self.connections.discard(handler)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def dispatch(self, request: Request) -> Reply:
        """Route a request to the API (counted) or to a control endpoint (not counted)."""
        route = API_ENDPOINTS.get(request.path.rstrip("/").lower())
        if route is not None:
            if request.method != "POST":
                return Reply(405, _problem("Method not allowed"), [("Allow", "POST")])
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            try:
                reply = await self.api(request, *route)
            finally:
                self.stats.in_flight -= 1
            self.stats.responses_by_status[reply.status] += 1
            return reply
        return self.control(request)

    # The API

    async def api(self, request: Request, endpoint: str, batch: bool, template: bool) -> Reply:
        """Answer a send as Postmark would, after the latency, failing as the knobs say."""
        knobs = self.knobs
        self.stats.requests += 1
        self.stats.requests_by_endpoint[endpoint] += 1
        delay = knobs.latency_ms + self.rng.uniform(-knobs.jitter_ms, knobs.jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if not request.headers.get("x-postmark-server-token"):
            return Reply(401, error(10, NO_TOKEN))
        if knobs.max_rate:
            # A sliding second, so no 1-second span anywhere holds more than max_rate.
            now = time.monotonic()
            while self.admitted and self.admitted[0] <= now - 1.0:
                self.admitted.popleft()
            if len(self.admitted) >= knobs.max_rate:
                self.stats.throttled_by_max_rate += 1
                wait = max(1, math.ceil(self.admitted[0] + 1.0 - now))
                return Reply(429, error(429, "Rate limit exceeded"), [("Retry-After", str(wait))])
            self.admitted.append(now)
        draw = self.rng.random()
        if draw < knobs.error_rate:
            status = self.rng.choice((500, 503))
            return Reply(status, error(status, HTTPStatus(status).phrase))
        if draw < knobs.error_rate + knobs.rate_429:
            retry_after = [("Retry-After", str(knobs.retry_after))]
            return Reply(429, error(429, "Rate limit exceeded"), retry_after)
        try:
            data = json.loads(request.body)
        except ValueError:
            return Reply(422, error(402, INVALID_JSON))
        if not batch:
            result = self.submit(data, endpoint=endpoint, template=template)
            reply = Reply(200 if result["ErrorCode"] == 0 else 422, result)
        else:
            messages = data.get("Messages") if template and isinstance(data, dict) else data
            if not isinstance(messages, list):
                return Reply(422, error(402, INVALID_JSON))
            if len(messages) > MAX_BATCH:
                return Reply(422, error(300, f"Too many messages in a batch (max {MAX_BATCH})."))
            # Postmark answers a batch 200 and reports each message on its own.
            results = [self.submit(m, endpoint=endpoint, template=template) for m in messages]
            reply = Reply(200, results)
        lost = knobs.lost_response_rate and self.rng.random() < knobs.lost_response_rate
        if lost and reply.status == 200:
            self.stats.lost_responses += 1
            reply.lose = True
        return reply

    def submit(self, message: Any, *, endpoint: str, template: bool) -> dict[str, Any]:
        """Validate one message as Postmark would, accept it, and return Postmark's result."""
        result, recipients = check_message(message, template=template, inactive=self.inactive)
        if result["ErrorCode"] == 0:
            self._accept(message, result, recipients, endpoint=endpoint)
        else:
            self.stats.rejected_by_error_code[result["ErrorCode"]] += 1
        return result

    def _accept(
        self,
        message: dict[str, Any],
        result: dict[str, Any],
        recipients: list[str],
        *,
        endpoint: str,
    ) -> None:
        stats, now = self.stats, time.time()
        if stats.first_accept is None:
            stats.first_accept = now
        stats.last_accept = now
        stats.accepted_by_second[int(now - stats.first_accept)] += 1
        stats.messages_accepted += 1
        stats.recipients_accepted += len(recipients)
        stats.by_recipient.update(recipients)
        header = message_id_header(message)
        if header is not None:
            stats.by_message_id_header[header] += 1
        if self.kept.maxlen:
            self.kept.append(
                {
                    "MessageID": result["MessageID"],
                    "recipients": recipients,
                    **{key: message.get(key) for key in ("From", "To", "Cc", "Bcc", "Subject")},
                    "Tag": message.get("Tag"),
                    "Metadata": message.get("Metadata") or {},
                    "Headers": message.get("Headers") or [],
                    "MessageStream": message.get("MessageStream") or "outbound",
                    "endpoint": endpoint,
                    "SubmittedAt": result["SubmittedAt"],
                }
            )
        if self.events is not None:
            due = time.monotonic() + self.knobs.events_delay_ms / 1000
            for recipient in recipients:
                event = delivery_event(message, message_id=result["MessageID"], recipient=recipient)
                self.events.submit(event, due=due)

    # Control endpoints

    def control(self, request: Request) -> Reply:
        """Answer /stats, /reset, /messages and /knobs (see ``fake_esp.py``)."""
        route = (request.method, request.path.rstrip("/") or "/")
        if route == ("GET", "/stats"):
            stats = self.stats.as_json(connections_open=len(self.connections), events=self.events)
            return Reply(200, {**stats, "knobs": dataclasses.asdict(self.knobs)})
        if route == ("POST", "/reset"):
            self.stats = Stats()
            self.kept.clear()
            if self.events is not None:
                self.events.posted = self.events.failed = self.events.dropped = 0
            return Reply(200, {"reset": True})
        if route == ("GET", "/messages"):
            return Reply(200, list(self.kept))
        if route == ("GET", "/knobs"):
            return Reply(200, dataclasses.asdict(self.knobs))
        if route == ("POST", "/knobs"):
            try:
                changes = json.loads(request.body or b"{}")
                knobs = Knobs(**{**dataclasses.asdict(self.knobs), **changes})
            except (ValueError, TypeError) as refused:
                return Reply(400, _problem(str(refused)))
            self.set_knobs(knobs)
            return Reply(200, dataclasses.asdict(self.knobs))
        return Reply(404, _problem(f"No route for {request.method} {request.path}"))

    def set_knobs(self, knobs: Knobs) -> None:
        """Behave by these knobs from the next request on."""
        if knobs.seed != self.knobs.seed:
            self.rng = random.Random(knobs.seed)
        if knobs.keep_messages != self.kept.maxlen:
            self.kept = deque(self.kept, maxlen=knobs.keep_messages)
        if knobs.events_url != self.knobs.events_url or (
            knobs.events_concurrency != self.knobs.events_concurrency
        ):
            if self.events is not None:
                self.events.close()
            self.events = None
        self.knobs = knobs
        self.inactive = frozenset(knobs.inactive)
        self._start_webhooks()

    def _start_webhooks(self) -> None:
        if self.knobs.events_url and self.events is None:
            self.events = WebhookPoster(
                self.knobs.events_url,
                concurrency=self.knobs.events_concurrency,
                prepare=lambda event: {**event, "DeliveredAt": utc_now_iso()},
            )

    async def serve(
        self, *, host: str, port: int, port_file: str | None, parent_pid: int | None = None
    ) -> None:
        """Listen on ``host:port`` (0: any free port) until SIGTERM or SIGINT, or until the
        process ``parent_pid`` is no longer this one's parent.

        Once listening, prints the URL and writes the port to ``port_file``.
        """
        server = await asyncio.start_server(
            self.handle_connection, host, port, limit=MAX_HEAD_BYTES, backlog=4096
        )
        bound = server.sockets[0].getsockname()[1]
        self._start_webhooks()
        if port_file:
            # Written whole, then renamed: a reader never sees half a number.
            partial = Path(f"{port_file}.partial")
            partial.write_text(f"{bound}\n")
            partial.replace(port_file)
        print(f"http://{host}:{bound}/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        if parent_pid is not None:
            watch = asyncio.create_task(self._stop_when_orphaned(parent_pid, stop))
        async with server:
            await stop.wait()
            server.close()
            # Kept-alive connections, idle or waiting out a latency, end now.
            handlers = list(self.connections)
            for handler in handlers:
                handler.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
        if self.events is not None:
            self.events.close()
        if parent_pid is not None:
            watch.cancel()

    @staticmethod
    async def _stop_when_orphaned(parent_pid: int, stop: asyncio.Event) -> None:
        # A benchmark killed with SIGKILL cannot stop its fake; the fake notices instead.
        while os.getppid() == parent_pid:
            await asyncio.sleep(1)
        stop.set()
