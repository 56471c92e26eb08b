"""What Postmark's email API answers, as pure functions: a message's JSON in, Postmark's result out.

The fake ESP (``fake_postmark.py``) answers with these. They follow Postmark's documented
responses and the way anymail's Postmark backend reads them (``anymail/backends/postmark.py``):
a message is accepted with ``{"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message"}``
or refused with ``{"ErrorCode", "Message"}``, whose wording anymail parses to tell an invalid
recipient (300) or an inactive one (406) from any other error.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

MAX_BATCH = 500  # Postmark's limit of messages in one batch call
SERVER_ID = 23
INACTIVE_TAIL = (
    "Inactive recipients are ones that have generated a hard bounce or a spam complaint."
)
NO_TOKEN = (
    "No Account or Server API tokens were supplied in the HTTP headers. Please add a header for "
    "either X-Postmark-Server-Token or X-Postmark-Account-Token."
)
INVALID_JSON = "Received invalid JSON input."


def utc_now_iso() -> str:
    """The time now, as Postmark writes its timestamps (ISO 8601, UTC)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def error(code: int, message: str) -> dict[str, Any]:
    """Postmark's body for a refused request or message."""
    return {"ErrorCode": code, "Message": message}


def recipients_of(message: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
    """Every addr-spec the message goes to (lower-cased), or Postmark's error for a bad one."""
    found: list[str] = []
    for field in ("To", "Cc", "Bcc"):
        value = message.get(field)
        if not value:
            continue
        if not isinstance(value, str):
            return [], error(300, f"Invalid '{field}' address: '{value}'.")
        for _, address in getaddresses([value]):
            # The wording anymail parses to mark the address invalid (error 300).
            if "@" not in address or address.startswith("@") or address.endswith("@"):
                return [], error(300, f"Invalid '{field}' address: '{address or value}'.")
            found.append(address.lower())
    if not found:
        return [], error(300, "Zero recipients specified")
    return found, None


def check_message(
    message: Any, *, template: bool, inactive: frozenset[str]
) -> tuple[dict[str, Any], list[str]]:
    """Postmark's result for one message, and the recipients it would deliver to.

    ``template``: sent to a template endpoint (no body needed, a template is). ``inactive``:
    lower-cased addresses that bounced or complained; they get no delivery, and a message to
    no one else is refused (406).
    """
    if not isinstance(message, dict):
        return error(402, INVALID_JSON), []
    sender = message.get("From")
    if not isinstance(sender, str) or "@" not in sender:
        return error(300, f"Invalid 'From' address: '{sender or ''}'."), []
    recipients, refusal = recipients_of(message)
    if refusal is not None:
        return refusal, []
    if not template and not (message.get("TextBody") or message.get("HtmlBody")):
        return error(300, "Provide either email TextBody or HtmlBody or both."), []
    if template and not (message.get("TemplateId") or message.get("TemplateAlias")):
        return error(1101, "The template was not found."), []
    gone = [address for address in recipients if address in inactive]
    if len(gone) == len(recipients):
        # The wording anymail parses to mark these recipients rejected (error 406).
        text = (
            "You tried to send to a recipient that has been marked as inactive.\n"
            f"Found inactive addresses: {', '.join(gone)}.\n{INACTIVE_TAIL} "
        )
        return error(406, text), []
    result: dict[str, Any] = {}
    if message.get("To"):  # Postmark leaves it out of a Cc- or Bcc-only send
        result["To"] = message["To"]
    result["SubmittedAt"] = utc_now_iso()
    result["MessageID"] = str(uuid.uuid4())
    result["ErrorCode"] = 0
    result["Message"] = (
        "Message OK, but will not deliver to these inactive addresses: "
        f"{', '.join(gone)}. {INACTIVE_TAIL}"
        if gone
        else "OK"
    )
    return result, [address for address in recipients if address not in inactive]


def message_id_header(message: dict[str, Any]) -> str | None:
    """The value of the message's own ``Message-ID`` header, if it sets one."""
    headers = message.get("Headers")
    if not isinstance(headers, list):
        return None
    for header in headers:
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "message-id":
            return str(header.get("Value"))
    return None


def delivery_event(message: dict[str, Any], *, message_id: str, recipient: str) -> dict[str, Any]:
    """Postmark's Delivery webhook payload for one recipient, without ``DeliveredAt``."""
    return {
        "RecordType": "Delivery",
        "ServerID": SERVER_ID,
        "MessageStream": message.get("MessageStream") or "outbound",
        "MessageID": message_id,
        "Recipient": recipient,
        "Tag": message.get("Tag") or "",
        "Details": "smtp;250 2.0.0 OK (fake-esp)",
        "Metadata": message.get("Metadata") or {},
    }
