"""The embedded default email backend: each message as its own .eml file under var/outbox/."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class EmlFileBackend(BaseEmailBackend):
    """Writes every message to ``EMAIL_FILE_PATH/<time>-<id>.eml``, openable in a mail client."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        outbox = Path(settings.EMAIL_FILE_PATH)
        outbox.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            name = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
            (outbox / name).write_bytes(message.message().as_bytes(linesep="\r\n"))
            sent += 1
        return sent
