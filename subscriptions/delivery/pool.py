"""Many emails in flight at once: a pool of sending threads, each over its own ESP connection.

An ESP answers an API call after 50-300 ms; one call at a time, a worker sends a few digests
a second. Up to ``DIGEST_SEND_CONCURRENCY`` calls are in flight here instead, through the
configured backend unchanged (anymail's, or SMTP with one connection a thread). A thread
never touches the database: it waits for its turn (``throttle.py``), sends, and says what
happened as an ``Outcome``; the caller records them. A failure of one send never stops the
others.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import smtplib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.mail import get_connection

from subscriptions.delivery.throttle import Throttle

logger = logging.getLogger(__name__)


class Result(enum.Enum):
    SENT = "sent"  # the ESP took it
    FAILED = "failed"  # refused for good (a bad address, a 4xx): never retried
    RETRY = "retry"  # the ESP could not take it now (5xx, 429, timeout): not sent, try later
    NOT_TRIED = "not tried"  # the pool was stopped before it was handed over
    HELD = "held back"  # every sender is paused (the ESP said wait): not sent, try later
    IN_DOUBT = "in doubt"  # sent but unanswered, or our code broke around it: may be there


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one email: its ``detail`` is the ESP's message id, or the error."""

    digest_id: int
    result: Result
    detail: str = ""
    retry_after: float | None = None


class SendPool:
    """Send emails with at most ``concurrency`` in flight; use it as a context manager.

    Each thread opens its own connection of the configured backend the first time it sends,
    and every connection is closed when the pool is.
    """

    def __init__(self, *, concurrency: int, throttle: Throttle) -> None:
        self._throttle = throttle
        self._stopped = threading.Event()
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send")

    def __enter__(self) -> SendPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, digest_id: int, email: Any) -> Future[Outcome]:
        """Queue one email; its future gives its ``Outcome`` (it never raises)."""
        return self._executor.submit(self._send, digest_id, email)

    def stop(self) -> None:
        """Start no more sends: those still queued or waiting for their turn come back
        ``NOT_TRIED``; those already handed to the ESP finish."""
        self._stopped.set()

    def close(self) -> None:
        """Wait for the sends under way, then close every connection."""
        self._executor.shutdown(wait=True, cancel_futures=False)
        for connection in self._connections:
            with contextlib.suppress(Exception):
                connection.close()

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = get_connection()
            _open(connection)  # if it cannot be opened, the thread's next send tries anew
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _send(self, digest_id: int, email: Any) -> Outcome:
        try:
            hold = (
                math.inf if self._stopped.is_set() else self._throttle.wait_for_turn(self._stopped)
            )
        except Exception:  # nothing was handed over: it goes back to pending
            logger.exception("waiting for a turn to send digest %s broke", digest_id)
            return Outcome(digest_id, Result.NOT_TRIED)
        if hold == math.inf:
            return Outcome(digest_id, Result.NOT_TRIED)
        if hold:
            return Outcome(digest_id, Result.HELD, "every sender is paused", retry_after=hold)
        try:
            connection = self._connection()
        except Exception as error:  # nothing was handed over
            transient = as_transient(error)
            result = Result.FAILED if transient is None else Result.RETRY
            return Outcome(digest_id, result, describe(error))
        try:
            return self._hand_over(digest_id, email, connection)
        except Exception as error:  # a bug of ours around the hand-over, not the ESP's answer
            logger.exception("sending digest %s broke", digest_id)
            return Outcome(digest_id, Result.IN_DOUBT, describe(error))

    def _hand_over(self, digest_id: int, email: Any, connection: Any) -> Outcome:
        try:
            connection.send_messages([email])
        except (AnymailRecipientsRefused, smtplib.SMTPRecipientsRefused) as error:
            return Outcome(digest_id, Result.FAILED, describe(error))
        except Exception as error:
            if may_have_reached_the_esp(error):
                # Sent, never answered: it may be in the ESP's hands, so never resent blindly.
                return Outcome(digest_id, Result.IN_DOUBT, describe(error))
            transient = as_transient(error)
            if transient is None:
                return Outcome(digest_id, Result.FAILED, describe(error))
            # The ESP did not take it, so sending it again cannot duplicate it.
            if transient.retry_after:
                self._throttle.pause_all(transient.retry_after)
            _reconnect(connection)
            return Outcome(digest_id, Result.RETRY, str(transient), transient.retry_after)
        status = getattr(email, "anymail_status", None)
        message_id = getattr(status, "message_id", None) or email.extra_headers["Message-ID"]
        return Outcome(digest_id, Result.SENT, str(message_id)[:255])


def _open(connection: Any) -> None:
    """Open a backend connection. An HTTP API's requests session reads the environment's
    proxy and CA-bundle settings here, once: left to itself, requests reads the whole
    environment again on every request (a quarter of a send's CPU, measured through
    anymail's Postmark backend). The API is one host, so once a connection is the same.
    (.netrc credentials are not looked up: ESP APIs take their key from the settings.)"""
    connection.open()
    session = getattr(connection, "session", None)
    url = getattr(connection, "api_url", None)
    if isinstance(session, requests.Session) and session.trust_env and url:
        found = session.merge_environment_settings(url, {}, None, None, None)
        session.proxies.update(found["proxies"])
        session.verify, session.cert = found["verify"], found["cert"]
        session.trust_env = False


def _reconnect(connection: Any) -> None:
    """After a connection error, start the next send on a fresh connection."""
    with contextlib.suppress(Exception):
        connection.close()
    with contextlib.suppress(Exception):
        _open(connection)


class TransientSendError(Exception):
    """The ESP could not take the message now; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def may_have_reached_the_esp(error: Exception) -> bool:
    """Whether the request went out and the answer was lost (a read timeout, a connection
    dropped after sending): the ESP may have taken the message. A connection that could not
    be made, or an answer of any kind, says it did not."""
    if isinstance(error, requests.ConnectTimeout):
        return False
    if isinstance(error, requests.ReadTimeout):
        return True
    if isinstance(error, requests.ConnectionError):
        # anymail raises its own error of the requests error's type, from the original
        cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
        reason = cause.args[0] if cause.args else None
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the reason
        return not isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def as_transient(error: Exception) -> TransientSendError | None:
    """The error as a passing one (5xx, 429, timeouts, connection trouble), else None."""
    if isinstance(error, AnymailError):
        code = getattr(error, "status_code", None)
        if code is None and not isinstance(error, AnymailAPIError):
            return None
        if code is None or code == 429 or code >= 500:
            return TransientSendError(describe(error), _retry_after(error))
        return None
    if isinstance(error, smtplib.SMTPResponseException):
        return TransientSendError(describe(error)) if 400 <= error.smtp_code < 500 else None
    # Timeouts, refused connections and other SMTP trouble (all OSError subclasses).
    if isinstance(error, OSError):
        return TransientSendError(describe(error))
    return None


def describe(error: Exception) -> str:
    """A one-line account of a send error (anymail's own can fail to describe themselves)."""
    try:
        text = str(error)
    except Exception:
        text = repr(error.args)
    return f"{error.__class__.__name__}: {text}"[:2000]


def _retry_after(error: AnymailError) -> float | None:
    response = getattr(error, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
