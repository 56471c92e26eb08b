"""Our emails in MIME: the bytes Django and the standard library would write, written faster.

A backend that sends MIME (SMTP, anymail's Amazon SES, the .eml file backend) serialises
every digest, and the standard library's way of doing so costs more than rendering the
digest: it folds every header with the general algorithm, tries every prefix of a non-ASCII
subject, checks and writes a body line by line. Measured on the daily run (10,000 digests,
PostgreSQL), Django's own ``message()`` took 2.6-2.8 ms a digest against 1.1-1.2 ms with this
module. An ESP's HTTP API (anymail's Postmark, Mailgun, ...) never calls ``message()``.

What it must stay equal to: Django 5.2's ``EmailMultiAlternatives.message()`` (with our
parts and subject encoding swapped in), written by the standard library's ``BytesGenerator``
with the ``compat32`` policy. ``tests/subscriptions/test_mime.py`` compares the bytes, with
hostile input too, and fails on another Django version until this is checked against it.

Nothing unsafe reaches a header: ``check_headers`` refuses control and line-separator
characters in every address and header value before a message is made (the standard
library takes some of them for line breaks, and a header would end early).
"""

from __future__ import annotations

import random
import re
from base64 import b64encode
from collections.abc import Sequence
from email import charset as Charset
from email.generator import BytesGenerator
from email.message import Message
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formatdate, make_msgid
from functools import lru_cache
from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.core.mail.message import (
    DNS_NAME,
    SafeMIMEMultipart,
    SafeMIMEText,
    forbid_multi_line_headers,
    utf8_charset,
    utf8_charset_qp,
)


def encoded_words(text: str) -> str:
    """``text`` as RFC 2047 encoded words (base64, under 76 characters each), if not ASCII.

    A reader sees the original text: the spaces between encoded words are not part of it.
    """
    if text.isascii():
        return text
    data, words, start = text.encode(), [], 0
    while start < len(data):
        end = min(start + 45, len(data))  # 45 bytes are 60 in base64; with "=?utf-8?b??=", 72
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
        words.append(data[start:end])
        start = end
    return " ".join(f"=?utf-8?b?{b64encode(word).decode()}?=" for word in words)


# The standard line width, for which the fast paths are tested, and where the standard
# folding may break a line of printable ASCII (its split characters).
_FOLD_WIDTH = 78
_BREAKS = frozenset(" ;,")


class QuickFold(Compat32):
    """The email package's default policy, with fast paths for the headers our emails have.

    Serialising folds every header through ``email.header.Header``, about 15 microseconds
    each, and over 100 for a long one. What it writes is plain for the headers we send
    (tests check each path against the standard policy):

    - a short single-line ASCII value comes out unchanged;
    - one long ASCII word with nowhere to break it (the unsubscribe link) goes on a
      continuation line of its own;
    - any other value is folded by the standard code, and remembered: a day's subjects
      repeat from reader to reader.
    """

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if self.max_line_length != _FOLD_WIDTH or not isinstance(value, str) or not value.isascii():
            return super()._fold(name, value, sanitize)
        if value.isprintable():  # on one line
            if len(name) + len(value) < 76 and value == value.strip() and "  " not in value:
                return f"{name}: {value}{self.linesep}"
            if len(name) + len(value) > _FOLD_WIDTH and not _BREAKS.intersection(value):
                return f"{name}: {self.linesep} {value}{self.linesep}"
        return _standard_fold(name, value, sanitize, self.linesep, self.max_line_length)


_COMPAT32 = Compat32()


@lru_cache(maxsize=4096)
def _standard_fold(
    name: str, value: str, sanitize: bool, linesep: str, max_line_length: int | None
) -> str:
    policy = _COMPAT32.clone(linesep=linesep, max_line_length=max_line_length)
    return policy._fold(name, value, sanitize)


_QUICK_FOLD = QuickFold()


class LeanGenerator(BytesGenerator):
    """The standard ``BytesGenerator``, writing a body in one piece rather than line by line.

    The standard one splits a body at every line break and writes each line and each line
    ending on its own: about a microsecond a line, and a regular expression over the whole
    body. Without a carriage return in the body, joining its lines with the line ending is
    a plain replacement, done in one call.
    """

    def _write_lines(self, lines: str) -> None:
        if "\r" in lines:
            super()._write_lines(lines)
        elif lines:
            self.write(lines if self._NL == "\n" else lines.replace("\n", self._NL))


class Multipart(SafeMIMEMultipart):
    """Django's multipart message, serialised by ``LeanGenerator``, or put together directly
    when it has the shape of our emails: text parts with no carriage return in their bodies.

    The generator spends most of its time on bookkeeping for shapes we never send (a buffer
    and a generator per part, a dispatch per content type, boundary and charset look-ups).
    Put together directly, it is the same headers, folded by the same policy, and the same
    bodies in the same frame (a test compares the bytes).
    """

    def __init__(self, *args: Any, boundary: str, **kwargs: Any) -> None:
        super().__init__(*args, boundary=boundary, **kwargs)
        self._boundary = boundary

    def set_boundary(self, boundary: str) -> None:
        super().set_boundary(boundary)
        self._boundary = boundary

    # Django's MIMEMixin.as_bytes takes a line separator where Message.as_bytes takes a policy.
    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:  # type: ignore[override]
        written = None if unixfrom else self._written(linesep)
        if written is not None:
            return written
        # Django's MIMEMixin.as_bytes, with the generator swapped.
        fp = BytesIO()
        LeanGenerator(fp, mangle_from_=False).flatten(self, unixfrom=unixfrom, linesep=linesep)
        return fp.getvalue()

    def _written(self, linesep: str) -> bytes | None:
        """What the generator would write, or None for a shape this does not know."""
        parts = self._payload
        if (
            self.policy is not _QUICK_FOLD
            or self.preamble is not None
            or self.epilogue is not None
            or not isinstance(parts, list)
            or not parts
        ):
            return None
        policy = _quick_fold(linesep)
        nl = linesep.encode()
        written = []
        for part in parts:
            body = part._payload
            if not isinstance(body, str) or "\r" in body:
                return None  # a nested multipart or a body the generator would re-break
            if linesep != "\n":
                body = body.replace("\n", linesep)
            written.append(_headers(part, policy, nl) + body.encode("ascii", "surrogateescape"))
        delimiter = b"--" + self._boundary.encode()
        return b"".join(
            (
                _headers(self, policy, nl),
                delimiter + nl,
                (nl + delimiter + nl).join(written),
                nl + delimiter + b"--" + nl,
            )
        )


@lru_cache(maxsize=4)
def _quick_fold(linesep: str) -> QuickFold:
    return _QUICK_FOLD.clone(linesep=linesep)


def _headers(message: Message, policy: QuickFold, nl: bytes) -> bytes:
    """The header block of ``message`` as ``BytesGenerator._write_headers`` writes it."""
    return b"".join([policy.fold_binary(name, value) for name, value in message._headers]) + nl


# SMTP allows lines of up to 998 bytes.
_LINE_LIMIT = 998


class TextPart(SafeMIMEText):
    """Django's text part, made without the email package's round of header parsing.

    Django measures each line in a Python loop; here it is done in C. A line longer than SMTP
    allows makes the part quoted-printable, which shortens it, and goes the standard way.
    Otherwise the part is 7bit or 8bit, and its headers, payload and charset are set to what
    the standard way sets them to (a test compares the bytes). Only CR and LF end a line
    here, as in SMTP, where Django's ``splitlines`` also breaks at a few rarer characters:
    such a body may be quoted-printable here and 8bit there, both readable alike.
    """

    def __init__(self, text: str, subtype: str = "plain", charset: Any = None) -> None:
        if charset != "utf-8" or isinstance(charset, Charset.Charset):
            super().__init__(text, subtype, charset)
            return
        data = text.encode()  # the standard way encodes strictly too
        if max(map(len, data.splitlines()), default=0) > _LINE_LIMIT:
            super().__init__(text, subtype, charset)
            return
        Message.__init__(self)
        self.encoding = charset
        self._headers = [
            ("Content-Type", f'text/{subtype}; charset="utf-8"'),
            ("MIME-Version", "1.0"),
            ("Content-Transfer-Encoding", "7bit" if data.isascii() else "8bit"),
        ]
        self._payload = data.decode("ascii", "surrogateescape")
        self._charset = utf8_charset

    def set_payload(self, payload: Any, charset: Any = None) -> None:
        if charset == "utf-8" and not isinstance(charset, Charset.Charset):
            lines = payload.encode(errors="surrogateescape").splitlines()
            too_long = max(map(len, lines), default=0) > _LINE_LIMIT
            charset = utf8_charset_qp if too_long else utf8_charset
        MIMEText.set_payload(self, payload, charset=charset)


# A day's subjects repeat from reader to reader; Django's check folds every one.
_checked_subject = lru_cache(maxsize=4096)(forbid_multi_line_headers)


# C0 and C1 controls, DEL, and Unicode's line and paragraph separators: str.splitlines() (and
# so the email package's folding) breaks lines at \x0b, \x0c, \x1c-\x1e, \x85, \u2028 and
# \u2029 as at CR and LF, so any of them in a header would end it and start another.
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_headers(email: EmailMultiAlternatives) -> None:
    """Raise ``BadHeaderError`` if any address or header value of ``email`` holds a control
    or line-separator character; our emails never need one."""
    values: dict[str, Sequence[Any]] = {
        "Subject": [email.subject],
        "From": [email.from_email],
        "To": email.to,
    }
    values |= {"Cc": email.cc, "Bcc": email.bcc, "Reply-To": email.reply_to}
    values |= {name: [value] for name, value in email.extra_headers.items()}
    for name, items in values.items():
        for value in items:
            if _UNSAFE_IN_HEADER.search(f"{name}{value}"):
                raise BadHeaderError(f"{name} holds a control character: {value!r}")


class Email(EmailMultiAlternatives):
    """An email whose MIME form is quick to make and to serialise.

    The subject is encoded in linear time (``subject`` itself stays as written: an ESP's API
    takes it), the multipart boundary is set up front rather than searched for in the body,
    the body and alternatives are ``TextPart``s, headers are folded by ``QuickFold``, and
    the whole is written by ``Multipart``.
    """

    def message(self) -> Any:
        # Django's EmailMessage.message(), with our parts and the subject encoded our way.
        check_headers(self)
        encoding = self.encoding or settings.DEFAULT_CHARSET
        msg = self._create_message(TextPart(str(self.body), self.content_subtype, encoding))
        name, subject = _checked_subject("Subject", encoded_words(str(self.subject)), encoding)
        Message.__setitem__(msg, name, subject)
        msg["From"] = self.extra_headers.get("From", self.from_email)
        self._set_list_header_if_not_empty(msg, "To", self.to)
        self._set_list_header_if_not_empty(msg, "Cc", self.cc)
        self._set_list_header_if_not_empty(msg, "Reply-To", self.reply_to)
        header_names = [key.lower() for key in self.extra_headers]
        if "date" not in header_names:
            msg["Date"] = formatdate(localtime=settings.EMAIL_USE_LOCALTIME)
        if "message-id" not in header_names:
            msg["Message-ID"] = make_msgid(domain=DNS_NAME)
        for name, value in self.extra_headers.items():
            if name.lower() not in {"from", "to", "cc", "reply-to"}:
                msg[name] = value
        msg.policy = _QUICK_FOLD
        return msg

    def _create_alternatives(self, msg: Any) -> Any:
        # Django's, with our multipart. 64 random bits cannot occur in a body by chance, so
        # the boundary needs no search through it; and the Content-Type header they make is
        # short enough to skip folding. Not secret, so not from the OS (a system call a
        # message): the standard generator draws its boundaries from ``random`` too.
        if not self.alternatives:
            return msg
        multipart = Multipart(
            _subtype=self.alternative_subtype,
            boundary=f"=_{random.getrandbits(64):016x}",
            encoding=self.encoding or settings.DEFAULT_CHARSET,
        )
        if self.body:
            multipart.attach(msg)
        for content, mimetype in self.alternatives:
            multipart.attach(self._create_mime_attachment(content, mimetype))
        return multipart

    def _create_mime_attachment(self, content: Any, mimetype: str) -> Any:
        basetype, subtype = mimetype.split("/", 1)
        if basetype == "text" and isinstance(content, str):
            return TextPart(content, subtype, self.encoding or settings.DEFAULT_CHARSET)
        return super()._create_mime_attachment(content, mimetype)
