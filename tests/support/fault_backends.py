"""Email backends for the fault tests (tests/reliability/), built on anymail's test backend.

Sent messages land in ``django.core.mail.outbox`` as with ``anymail.backends.test``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from anymail.backends.test import EmailBackend as AnymailTestBackend
from django.core.mail import EmailMessage
from django.db import connection


class SlowTestBackend(AnymailTestBackend):
    """Anymail's test backend taking ``delay_seconds`` per message, like a real ESP call."""

    delay_seconds = 0.03

    def post_to_esp(self, payload, message):
        time.sleep(self.delay_seconds)
        return super().post_to_esp(payload, message)


def terminate_connection(pid: int) -> int:
    """Terminate the PostgreSQL connection of backend ``pid`` from another one, as a
    failover would; returns ``pid``. The next query on that connection fails."""
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            # With a timeout, PostgreSQL waits until the backend is gone (or says false).
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            (terminated,) = cursor.fetchone()
    finally:
        other.close()
    assert terminated, f"PostgreSQL did not terminate backend {pid}"
    return pid


class DroppingConnectionBackend(AnymailTestBackend):
    """Anymail's test backend that drops the database connection after the Nth message.

    The Nth message is accepted ("the ESP has it"), then the PostgreSQL connection of the
    thread that armed it (the run's; sends come from the pool's threads) is terminated
    before the run can record it. Arm with ``DroppingConnectionBackend.arm``.
    """

    drop_after: int | None = None
    accepted = 0
    dropped_pid: int | None = None
    _pid: int | None = None
    _lock = threading.Lock()

    @classmethod
    def arm(cls, *, drop_after: int) -> None:
        connection.ensure_connection()
        cls._pid = connection.connection.info.backend_pid
        cls.drop_after = drop_after
        cls.accepted = 0
        cls.dropped_pid = None

    @classmethod
    def disarm(cls) -> None:
        cls.drop_after = None

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = super().send_messages(email_messages)
        cls = type(self)
        with cls._lock:
            cls.accepted += sent
            drop = cls.drop_after is not None and cls.accepted >= cls.drop_after
            if drop:
                cls.drop_after = None
        if drop and cls._pid is not None:
            cls.dropped_pid = terminate_connection(cls._pid)
        return sent
