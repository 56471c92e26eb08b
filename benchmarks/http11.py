"""HTTP/1.1 on asyncio streams, small: what the fake ESP (``fake_esp.py``) needs to serve a client
library's requests and to post webhooks over kept-alive connections.

The server side reads a request line, headers and a body (Content-Length or chunked), keeps the
connection alive unless ``Connection: close`` (or HTTP/1.0) says otherwise, and answers
``Expect: 100-continue``. Anything it cannot read is answered with a 4xx/5xx, then closed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

MAX_HEAD_BYTES = 64 * 1024
# Postmark takes 10 MB a message and 50 MB a batch; a little more, to answer 422, not 413.
MAX_BODY_BYTES = 64 * 1024 * 1024

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpError(Exception):
    """A request this server cannot read; answered with ``status``, then the connection closes."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Request:
    """One request as read from the connection."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    keep_alive: bool


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """The start line and the headers of a request or response head (ending in CRLF CRLF)."""
    # RFC 9112 2.2: a server should ignore empty lines received before the request line.
    lines = head.lstrip(b"\r\n").decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise HttpError(400, f"malformed header line {line[:80]!r}")
        name = name.lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return lines[0], headers


def _connection_tokens(headers: dict[str, str]) -> set[str]:
    return {token.strip().lower() for token in headers.get("connection", "").split(",")}


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """The message body by Content-Length or chunked coding; None when it is neither."""
    if "transfer-encoding" in headers:
        if "content-length" in headers:  # RFC 9112 6.3: a smuggling attempt or a broken client
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        if headers["transfer-encoding"].lower() != "chunked":
            raise HttpError(501, f"Transfer-Encoding {headers['transfer-encoding']!r}")
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise HttpError(400, "bad chunk size") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, ignored
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise HttpError(413, "body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise HttpError(400, "bad Content-Length") from None
        if length < 0:
            raise HttpError(400, "bad Content-Length")
        if length > MAX_BODY_BYTES:
            raise HttpError(413, "body too large")
        return await reader.readexactly(length)
    return None


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """The next request on a connection, or None if the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial.strip():
            raise HttpError(400, "connection closed inside a request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    start_line, headers = _parse_head(head)
    parts = start_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HttpError(400, f"malformed request line {start_line[:80]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, f"{version} is not supported")
    tokens = _connection_tokens(headers)
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    # A request without a length has no body (RFC 9112 6.3), unlike a response.
    path = unquote(urlsplit(target).path) or "/"
    return Request(method.upper(), path, headers, body or b"", keep_alive)


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:  # formatted once a second, not once a response
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def response_bytes(
    status: int, payload: Any, *, keep_alive: bool, headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    """A complete HTTP/1.1 response with a JSON body."""
    body = json.dumps(payload).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Date: {_http_date()}",
        "Server: fake-postmark",
        "Content-Type: application/json; charset=utf-8",
        f"Content-Length: {len(body)}",
        # Said either way: an HTTP/1.0 client keeps the connection only when told it may.
        "Connection: keep-alive" if keep_alive else "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bool]:
    """Read one response: its status and whether the connection can carry another request."""
    status = 100
    while 100 <= status < 200:  # interim responses (100 Continue) come before the answer
        start_line, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        version, _, rest = start_line.partition(" ")
        status = int(rest.split(" ", 1)[0])
    tokens = _connection_tokens(headers)
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    if method == "HEAD" or status in (204, 304):
        return status, keep_alive
    if await _read_body(reader, headers) is None:
        await reader.read()  # no length: the body ends when the server closes the connection
        keep_alive = False
    return status, keep_alive


async def post_json(connection: Connection, url: str, payload: Any) -> tuple[int, bool]:
    """POST ``payload`` as JSON to ``url`` (basic auth from its user:password) on ``connection``.

    Returns the status and whether the connection can carry another request.
    """
    reader, writer = connection
    parts = urlsplit(url)
    body = json.dumps(payload).encode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port or 80}",
        "User-Agent: fake-esp-webhooks",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if parts.username is not None:
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        lines.append("Authorization: Basic " + base64.b64encode(secret.encode()).decode())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
    return await read_response(reader, "POST")


class WebhookPoster:
    """Posts JSON events to one URL, each when it is due, over a few kept-alive connections.

    ``submit`` never blocks: the answers to the API are not held up by a slow receiver. Events
    are not retried (a receiver that fails is counted in ``failed``), except once on a fresh
    connection when a kept-alive one turns out to have been closed by the receiver.
    """

    def __init__(
        self,
        url: str,
        *,
        concurrency: int,
        prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        max_pending: int = 100_000,
    ):
        """``prepare`` makes each event's final form just before it is posted (a timestamp)."""
        self.url = url
        self._prepare = prepare or (lambda event: event)
        self.posted = 0
        self.failed = 0
        self.dropped = 0  # more than max_pending were waiting
        self._queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue(max_pending)
        self._workers = [asyncio.create_task(self._work()) for _ in range(concurrency)]

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def submit(self, event: dict[str, Any], *, due: float) -> None:
        """Queue ``event`` to be posted at ``due`` (a ``time.monotonic()`` time)."""
        try:
            self._queue.put_nowait((due, event))
        except asyncio.QueueFull:
            self.dropped += 1

    def close(self) -> None:
        """Stop posting; what is still queued is dropped."""
        for worker in self._workers:
            worker.cancel()

    async def _work(self) -> None:
        connection: Connection | None = None
        while True:
            due, event = await self._queue.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            event = self._prepare(event)
            for attempt in (1, 2):
                reused = connection is not None
                try:
                    if connection is None:
                        connection = await asyncio.wait_for(_open(self.url), timeout=10)
                    status, keep_alive = await asyncio.wait_for(
                        post_json(connection, self.url, event), timeout=30
                    )
                except (OSError, EOFError, asyncio.LimitOverrunError, HttpError, ValueError):
                    # (IncompleteReadError is an EOFError; TimeoutError an OSError.)
                    _close(connection)
                    connection = None
                    if reused and attempt == 1:
                        continue
                    self.failed += 1
                    break
                if not keep_alive:
                    _close(connection)
                    connection = None
                if 200 <= status < 300:
                    self.posted += 1
                else:
                    self.failed += 1
                break


async def _open(url: str) -> Connection:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port or 80, limit=MAX_HEAD_BYTES)


def _close(connection: Connection | None) -> None:
    if connection is not None:
        connection[1].close()
