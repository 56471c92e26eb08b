"""Our emails in MIME: the bytes Django and the standard library would write, written faster.

A day's run serialises every digest, and the standard library's way of doing so costs as much
as rendering the digest: it folds every header with the general algorithm, tries every prefix
of a non-ASCII subject, checks and writes a body line by line. Each shortcut here gives the
same bytes for what our emails hold, and ``tests/subscriptions/test_mime.py`` compares them with
what Django and the standard library write.
"""

from __future__ import annotations

import secrets
from base64 import b64encode
from email import charset as Charset
from email.generator import BytesGenerator
from email.mime.text import MIMEText
from email.policy import Compat32
from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import SafeMIMEMultipart, SafeMIMEText, utf8_charset, utf8_charset_qp


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


class QuickFold(Compat32):
    """The email package's default policy, with a fast path for headers that need no folding.

    Serialising folds every header through ``email.header.Header``, about 15 microseconds
    each: a quarter of a digest's MIME time. A short single-line ASCII header comes out of
    it unchanged, so it is written as it is (a test checks the two agree).
    """

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and len(name) + len(value) < 76
            and value.isascii()
            and value.isprintable()
            and value == value.strip()
            and "  " not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


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
    """Django's multipart message, serialised by ``LeanGenerator``."""

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        # Django's MIMEMixin.as_bytes, with the generator swapped.
        fp = BytesIO()
        LeanGenerator(fp, mangle_from_=False).flatten(self, unixfrom=unixfrom, linesep=linesep)
        return fp.getvalue()


# SMTP allows lines of up to 998 bytes.
_LINE_LIMIT = 998


class TextPart(SafeMIMEText):
    """Django's text part, with its check for lines too long for SMTP done in C.

    Django measures each line in a Python loop. A long line makes the part quoted-printable, which
    shortens it; otherwise it is 8bit. Here only CR and LF end a line, as in SMTP, where
    Django's ``splitlines`` also breaks at a few rarer characters: such a body may be
    quoted-printable here and 8bit there, both readable alike.
    """

    def set_payload(self, payload: Any, charset: Any = None) -> None:
        if charset == "utf-8" and not isinstance(charset, Charset.Charset):
            lines = payload.encode(errors="surrogateescape").splitlines()
            too_long = max(map(len, lines), default=0) > _LINE_LIMIT
            charset = utf8_charset_qp if too_long else utf8_charset
        MIMEText.set_payload(self, payload, charset=charset)


class Email(EmailMultiAlternatives):
    """An email whose MIME form is quick to make and to serialise.

    The subject is encoded in linear time (``subject`` itself stays as written: an ESP's API
    takes it), the multipart boundary is set up front rather than searched for in the body,
    alternatives are ``TextPart``s, short headers skip folding (``QuickFold``), and bodies
    are written whole (``LeanGenerator``).
    """

    def message(self) -> Any:
        subject = self.subject
        self.subject = encoded_words(subject)
        try:
            message = super().message()
        finally:
            self.subject = subject
        message.policy = _QUICK_FOLD
        return message

    def _create_alternatives(self, msg: Any) -> Any:
        # Django's, with our multipart. 64 random bits cannot occur in a body by chance, so
        # the boundary needs no search through it; and the Content-Type header they make is
        # short enough to skip folding.
        if not self.alternatives:
            return msg
        multipart = Multipart(
            _subtype=self.alternative_subtype,
            boundary=f"=_{secrets.token_hex(8)}",
            encoding=self.encoding or settings.DEFAULT_CHARSET,
        )
        if self.body:
            multipart.attach(msg)
        for alternative in self.alternatives:
            multipart.attach(
                self._create_mime_attachment(alternative.content, alternative.mimetype)
            )
        return multipart

    def _create_mime_attachment(self, content: Any, mimetype: str) -> Any:
        basetype, subtype = mimetype.split("/", 1)
        if basetype == "text" and isinstance(content, str):
            return TextPart(content, subtype, self.encoding or settings.DEFAULT_CHARSET)
        return super()._create_mime_attachment(content, mimetype)
