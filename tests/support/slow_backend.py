"""An email backend for tests that run a real worker: slow enough to be killed mid-batch."""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.core.mail import EmailMessage

from digest_site.mail import EmlFileBackend


class SlowEmlBackend(EmlFileBackend):
    """``EmlFileBackend`` that takes ``delay_seconds`` per message, like a slow ESP call.

    Half the delay comes before the .eml file is written and half after, so a worker killed
    while sending may have left the file ("the ESP has it") or not, as with a real ESP.
    """

    delay_seconds = 0.2

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            time.sleep(self.delay_seconds / 2)
            sent += super().send_messages([message])
            time.sleep(self.delay_seconds / 2)
        return sent
