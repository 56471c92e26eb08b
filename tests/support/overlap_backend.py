"""A backend that takes a while to answer and notes how many sends overlapped (for the pool).

Like an ESP's API it answers each call after ``DELAY`` seconds; it refuses any recipient
listed in ``REFUSE`` for good and answers 503 to any in ``UNAVAILABLE``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.core.mail.backends.base import BaseEmailBackend

DELAY = 0.05
REFUSE: set[str] = set()
UNAVAILABLE: set[str] = set()

_lock = threading.Lock()
in_flight = 0
most_in_flight = 0
connections_opened = 0
sent: list[str] = []


def reset() -> None:
    """Forget what was sent and seen."""
    global in_flight, most_in_flight, connections_opened
    with _lock:
        in_flight = most_in_flight = connections_opened = 0
        sent.clear()
    REFUSE.clear()
    UNAVAILABLE.clear()


class _Response:
    status_code = 503
    headers: dict[str, str] = {}
    reason = "unavailable"
    text = "try later"


class OverlapBackend(BaseEmailBackend):
    def open(self) -> bool:
        global connections_opened
        with _lock:
            connections_opened += 1
        return True

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        global in_flight, most_in_flight
        with _lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        try:
            time.sleep(DELAY)
            for message in email_messages:
                [to] = message.to
                if to in REFUSE:
                    raise AnymailRecipientsRefused("refused for good")
                if to in UNAVAILABLE:
                    raise AnymailAPIError("ESP unavailable", status_code=503, response=_Response())
                with _lock:
                    sent.append(to)
            return len(email_messages)
        finally:
            with _lock:
                in_flight -= 1
