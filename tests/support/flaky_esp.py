"""An ESP that misbehaves by a script, for a real worker process (tests/reliability/).

Messages it accepts are written as .eml files (like ``make run``); the script is a JSON file
beside the outbox (``<EMAIL_FILE_PATH>/../esp-script.json``), so a test can steer a worker
running in another process:

    {"fail_first": 4,              # the first 4 calls answer 503
     "timeout_calls": [5],         # the 5th call times out
     "rate_limit_calls": [6],      # the 6th answers 429 with Retry-After: 1
     "reject": ["x@example.org"]}  # this address is refused for good (HTTP 400)
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from anymail.exceptions import AnymailAPIError
from django.conf import settings

from digest_site.mail import EmlFileBackend


class _Response:
    def __init__(self, status_code: int, headers: dict[str, str]):
        self.status_code = status_code
        self.headers = headers
        self.reason = "scripted"
        self.text = f"scripted {status_code}"


def _error(status_code: int, **headers: str) -> AnymailAPIError:
    return AnymailAPIError(
        f"ESP answered {status_code}",
        status_code=status_code,
        response=_Response(status_code, headers),
    )


_counting = threading.Lock()


class FlakyEsp(EmlFileBackend):
    """Fails, times out, rate-limits or refuses as its script says; otherwise delivers."""

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        folder = Path(settings.EMAIL_FILE_PATH).parent
        script = json.loads((folder / "esp-script.json").read_text())
        counter = folder / "esp-calls.txt"
        sent = 0
        for message in email_messages:
            with _counting:  # the worker's sending threads call at once: one count each
                calls = int(counter.read_text()) + 1 if counter.exists() else 1
                counter.write_text(str(calls))
            if calls <= script.get("fail_first", 0):
                raise _error(503)
            if calls in script.get("timeout_calls", []):
                raise TimeoutError("the ESP did not answer in time")
            if calls in script.get("rate_limit_calls", []):
                raise _error(429, **{"Retry-After": "1"})
            if any(address in script.get("reject", []) for address in message.to):
                raise _error(400)
            sent += super().send_messages([message])
        return sent
