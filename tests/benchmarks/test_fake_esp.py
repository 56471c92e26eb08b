"""The fake Postmark server, driven through anymail's real Postmark backend over loopback."""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.dateparse import parse_datetime

from benchmarks.fake_esp import FakeEsp, Knobs, start_fake_esp
from subscriptions.models import Subscriber
from tests.factories import make_subscriber

DEFAULT_KNOBS = dataclasses.asdict(Knobs())
WEBHOOK_SECRET = "fake-esp:s3cret"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEsp]:
    with start_fake_esp() as esp:
        yield esp


@pytest.fixture
def esp(server: FakeEsp, settings) -> FakeEsp:
    """The shared fake, reset and back to its default knobs, with anymail's Postmark backend
    pointed at it."""
    server.set_knobs(**DEFAULT_KNOBS)
    server.reset()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, **server.anymail_settings()}
    return server


def email_to(*to: str, message_id: str | None = None, **kwargs: Any) -> EmailMultiAlternatives:
    headers = {"Message-ID": message_id} if message_id else {}
    message = EmailMultiAlternatives(
        subject="Today's papers",
        body="Three papers for you.",
        from_email="Paper Digest <digest@paper-digest.test>",
        to=list(to),
        headers=headers,
        connection=kwargs.pop("connection", None),
    )
    message.attach_alternative("<p>Three papers for you.</p>", "text/html")
    for name, value in kwargs.items():
        setattr(message, name, value)
    return message


def test_it_accepts_a_message_and_anymail_reports_its_message_id(esp):
    message = email_to(
        "Ada <ada@example.org>",
        message_id="<digest-1-2025-11-06@paper-digest.test>",
        metadata={"digest_id": "1"},
        tags=["digest"],
    )

    assert message.send() == 1

    [kept] = esp.messages()
    assert message.anymail_status.status == {"sent"}
    assert message.anymail_status.message_id == kept["MessageID"]
    assert kept["recipients"] == ["ada@example.org"]
    assert kept["Metadata"] == {"digest_id": "1"}
    assert kept["Tag"] == "digest"
    assert {"Name": "Message-ID", "Value": "<digest-1-2025-11-06@paper-digest.test>"} in kept[
        "Headers"
    ]
    stats = esp.stats()
    assert stats["messages_accepted"] == 1
    assert stats["requests_by_endpoint"] == {"email": 1}
    assert stats["first_accept_at"] is not None
    assert stats["accepted_per_second"] == [1]


def test_it_answers_429_with_the_retry_after_anymail_exposes(esp):
    esp.set_knobs(rate_429=1.0, retry_after=7)

    with pytest.raises(AnymailAPIError) as caught:
        email_to("ada@example.org").send()

    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    stats = esp.stats()
    assert stats["messages_accepted"] == 0
    assert stats["errors_by_status"] == {"429": 1}


def test_it_answers_a_server_error_as_an_api_error(esp):
    esp.set_knobs(error_rate=1.0)

    with pytest.raises(AnymailAPIError) as caught:
        email_to("ada@example.org").send()

    assert caught.value.status_code in (500, 503)
    assert esp.stats()["messages_accepted"] == 0


def test_it_caps_the_rate_like_an_account_limit(esp):
    # A sliding second: the fourth send within a second of the first is refused.
    esp.set_knobs(max_rate=3)
    connection = get_connection()
    for _ in range(3):
        email_to("ada@example.org", connection=connection).send()

    with pytest.raises(AnymailAPIError) as caught:
        email_to("ada@example.org", connection=connection).send()

    assert caught.value.status_code == 429
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    stats = esp.stats()
    assert stats["throttled_by_max_rate"] == 1
    assert stats["max_accepted_in_a_second"] == 3


def test_concurrent_senders_wait_side_by_side(esp):
    esp.set_knobs(latency_ms=200)
    senders = 20
    start = threading.Barrier(senders)
    sent: list[int] = []

    def send(number: int) -> None:
        with get_connection() as connection:  # one backend, so one HTTP connection, each
            message = email_to(f"reader{number}@example.org", connection=connection)
            start.wait(timeout=5)
            sent.append(message.send())

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sent == [1] * senders
    stats = esp.stats()
    assert stats["messages_accepted"] == senders
    # Served one after another, no two would ever be in flight together.
    assert stats["max_in_flight"] >= 15
    assert stats["max_connections_open"] >= 15


def test_it_counts_a_recipient_and_a_message_id_accepted_twice(esp):
    connection = get_connection()
    email_to("ada@example.org", message_id="<digest-1@x>", connection=connection).send()
    email_to("ADA@example.org", message_id="<digest-1@x>", connection=connection).send()
    email_to("bob@example.org", message_id="<digest-2@x>", connection=connection).send()

    stats = esp.stats()
    assert stats["messages_accepted"] == 3
    assert stats["unique_recipients"] == 2
    assert stats["duplicate_recipients"] == 1
    assert stats["duplicate_deliveries"] == 1
    assert stats["duplicate_recipient_examples"] == {"ada@example.org": 2}
    assert stats["duplicate_message_ids"] == 1
    assert stats["duplicate_message_id_examples"] == {"<digest-1@x>": 2}


def test_an_inactive_recipient_is_refused_as_postmark_does(esp):
    esp.set_knobs(inactive=["gone@example.org"])

    with pytest.raises(AnymailRecipientsRefused):
        email_to("gone@example.org").send()

    stats = esp.stats()
    assert stats["messages_accepted"] == 0
    assert stats["rejected_by_error_code"] == {"406": 1}


def test_a_batch_gets_a_message_id_per_recipient(esp):
    message = email_to(
        "ada@example.org",
        "bob@example.org",
        merge_metadata={"ada@example.org": {"n": "1"}, "bob@example.org": {"n": "2"}},
    )

    message.send()

    recipients = message.anymail_status.recipients
    assert {status.status for status in recipients.values()} == {"sent"}
    kept = {m["recipients"][0]: m for m in esp.messages()}
    assert recipients["ada@example.org"].message_id == kept["ada@example.org"]["MessageID"]
    assert recipients["bob@example.org"].message_id == kept["bob@example.org"]["MessageID"]
    assert kept["bob@example.org"]["Metadata"] == {"n": "2"}
    assert esp.stats()["requests_by_endpoint"] == {"email/batch": 1}


def test_a_lost_answer_leaves_the_message_accepted(esp):
    # What makes a retrying sender send twice: the ESP took it, the sender never heard.
    esp.set_knobs(lost_response_rate=1.0)

    with pytest.raises(AnymailAPIError):
        email_to("ada@example.org").send()

    stats = esp.stats()
    assert stats["messages_accepted"] == 1
    assert stats["lost_responses"] == 1


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Authorization", ""), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A local HTTP server that records the webhooks posted to it: (URL, records)."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://{WEBHOOK_SECRET}@127.0.0.1:{httpd.server_port}/anymail/postmark/tracking/"
    yield url, received
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.django_db
def test_it_posts_a_delivery_webhook_the_site_acts_on(settings, webhook_receiver, client):
    url, received = webhook_receiver
    ada = make_subscriber(email="ada@example.org", soft_bounces=2)
    with start_fake_esp(events_url=url, events_delay_ms=10) as esp:
        settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
        settings.ANYMAIL = {**settings.ANYMAIL, **esp.anymail_settings()}
        message = email_to("ada@example.org", metadata={"digest_id": "7"}, tags=["digest"])
        message.send()
        for _ in range(500):
            if esp.stats()["events_posted"]:
                break
            threading.Event().wait(0.01)
        stats = esp.stats()

    assert stats["events_posted"] == 1
    assert stats["events_failed"] == 0
    [(path, authorization, body)] = received
    assert path == "/anymail/postmark/tracking/"
    assert authorization == "Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    event = json.loads(body)
    assert event["RecordType"] == "Delivery"
    assert event["MessageID"] == message.anymail_status.message_id
    assert event["Recipient"] == "ada@example.org"
    assert event["Metadata"] == {"digest_id": "7"}
    assert event["Tag"] == "digest"
    assert parse_datetime(event["DeliveredAt"]) is not None

    # The same payload through the site's real webhook: a delivery clears the soft bounces.
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": WEBHOOK_SECRET}
    response = client.post(
        path, body, content_type="application/json", HTTP_AUTHORIZATION=authorization
    )
    assert response.status_code == 200
    ada.refresh_from_db()
    assert ada.soft_bounces == 0
    assert ada.status == Subscriber.Status.ACTIVE


def exchange(server: FakeEsp, raw: bytes) -> bytes:
    """Send raw bytes on one connection and read everything until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", "X-Postmark-Server-Token: t", *extra]
    if not any(line.lower().startswith("transfer-encoding") for line in extra):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


MESSAGE = json.dumps({"From": "a@x.org", "To": "ada@example.org", "TextBody": "hi"}).encode()


def test_its_http_keeps_pipelined_requests_apart_and_honours_connection_close(esp):
    answer = exchange(esp, post("/email", MESSAGE) + post("/email", MESSAGE, "Connection: close"))

    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert answer.endswith(b'"Message": "OK"}')
    assert b"Connection: close" in answer.split(b"HTTP/1.1 200 OK")[2]
    assert esp.stats()["messages_accepted"] == 2


def test_its_http_reads_a_chunked_body(esp):
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(MESSAGE), MESSAGE)
    answer = exchange(
        esp, post("/email", chunked, "Transfer-Encoding: chunked", "Connection: close")
    )

    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def test_its_http_refuses_a_malformed_request_and_closes(esp):
    answer = exchange(esp, b"NONSENSE\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert esp.stats()["requests"] == 0


def test_a_bad_knob_is_refused_by_name_before_anything_starts():
    with pytest.raises(ValueError, match="error_rate"):
        start_fake_esp(error_rate=2)
