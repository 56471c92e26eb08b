"""MIME for our emails (subscriptions/mime.py): the bytes Django and the standard library write."""

import unicodedata
from email import message_from_bytes
from email.errors import HeaderParseError
from email.generator import BytesGenerator
from email.header import decode_header, make_header
from email.policy import compat32
from io import BytesIO

import django
import pytest
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from hypothesis import given
from hypothesis import strategies as st

from subscriptions.emails import email_of
from subscriptions.mime import Email, QuickFold, encoded_words

HEADERS = {"Date": "Thu, 06 Nov 2025 07:00:00 -0000", "Message-ID": "<digest-1@example.org>"}

# Bodies with every kind of line ending, text in and out of ASCII, and lines around SMTP's
# limit of 998 bytes (a longer one makes a part quoted-printable).
LINE = st.text(st.sampled_from("ab <>&=.é·中"), max_size=40) | st.text(
    st.sampled_from("ab é"), min_size=990, max_size=1010
)
BODY = st.lists(st.tuples(LINE, st.sampled_from(["\n", "\r\n", "\r", ""])), max_size=8).map(
    lambda lines: "".join(line + end for line, end in lines)
)


def standard_bytes(message, linesep):
    """``message`` as the standard library's generator writes it, with its own policy."""
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=compat32).flatten(message, linesep=linesep)
    return out.getvalue()


def both(email_class, text, html, subject=None, headers=HEADERS, **fields):
    email = email_class(
        subject=subject or "Model merging and 4 more - Paper Digest Nov 6",
        body=text,
        from_email="Paper Digest <digest@example.org>",
        to=["ada@example.org"],
        headers=headers,
        **fields,
    )
    email.attach_alternative(html, "text/html")
    message = email.message()
    message.set_boundary("=_boundary")
    return message


@given(BODY, BODY, st.sampled_from(["\n", "\r\n"]))
def test_an_email_is_the_mime_django_makes_written_the_same(text, html, linesep):
    ours = both(Email, text, html)
    django = both(EmailMultiAlternatives, text, html)
    assert ours.as_bytes(linesep=linesep) == standard_bytes(django, linesep)
    assert ours.as_bytes(linesep=linesep) == standard_bytes(ours, linesep)


# Subjects as digests have them (a title, a count, a middle dot), short, long and in any script.
SUBJECT = st.text(st.sampled_from("ab ,;·é中"), min_size=1, max_size=150).filter(
    lambda s: s.strip() == s
)
UNSUBSCRIBE = st.text(st.sampled_from("aZ09:/-_.=?&"), min_size=1, max_size=160).map(
    lambda token: f"<https://example.org/unsubscribe/{token}/one-click/>"
)


@given(
    BODY,
    SUBJECT,
    UNSUBSCRIBE,
    st.lists(st.sampled_from(["bob@example.org", "Zoë <zoe@example.org>"]), max_size=2),
    st.sampled_from(["\n", "\r\n"]),
)
def test_a_digest_shaped_email_is_written_as_django_writes_it(
    text, subject, unsubscribe, reply_to, linesep
):
    """Every header a digest has, with subjects as long and as non-ASCII as titles make them.

    Django encodes a non-ASCII subject its own way (trying every prefix); given the subject
    as we encode it, it writes the same bytes."""
    headers = {**HEADERS, "List-Unsubscribe": unsubscribe, "List-Id": "Paper Digest <d.x.y>"}
    ours = both(Email, text, "<p>html</p>", subject, headers, reply_to=reply_to)
    django = both(
        EmailMultiAlternatives, text, "<p>html</p>", encoded_words(subject), headers,
        reply_to=reply_to,
    )  # fmt: skip
    assert ours.as_bytes(linesep=linesep) == standard_bytes(django, linesep)
    assert ours.as_bytes(linesep=linesep) == standard_bytes(ours, linesep)


@pytest.mark.parametrize(
    ("line", "encoding"),
    [
        ("a" * 998, "7bit"),
        ("a" * 999, "quoted-printable"),
        ("é" * 499, "8bit"),
        ("é" * 500, "quoted-printable"),
    ],
)
def test_a_line_longer_than_smtp_allows_makes_the_part_quoted_printable(line, encoding):
    message = both(Email, f"short\n{line}\n", f"{line}\r\n<p>")
    assert [part["Content-Transfer-Encoding"] for part in message.get_payload()] == [encoding] * 2
    assert max(map(len, message.as_bytes().splitlines())) <= 998


@given(st.text(min_size=1, max_size=300).filter(lambda s: s.strip() == s and "\x00" not in s))
def test_encoded_subjects_read_back_as_written(subject):
    encoded = encoded_words(subject)
    assert all(len(word) <= 75 for word in encoded.split(" ")) or subject.isascii()
    assert str(make_header(decode_header(encoded))) == subject


@given(
    st.sampled_from(["Subject", "List-Id", "X-Long-Header-Name-For-Folding", "To"]),
    st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=120)
    | st.text(st.sampled_from("ab:/<>=-;, "), min_size=60, max_size=300)  # long, foldable or not
    | st.text(st.sampled_from("ab:/<>=-.@?&"), min_size=50, max_size=200),  # long, unbreakable
    st.sampled_from([None, 0, 40, 78, 100]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_quick_folding_writes_what_the_standard_policy_writes(name, value, width, linesep):
    def folded(policy):
        if width is not None:
            policy = policy.clone(max_line_length=width)
        try:
            return policy.clone(linesep=linesep).fold(name, value)
        except HeaderParseError as error:  # a value that would smuggle in a header
            return repr(error)

    assert folded(QuickFold()) == folded(compat32)


def test_a_serialised_subject_decodes_to_the_subject():
    subject = "Ünïcode résumé of a paper on 中文 pruning, ≥ 70 characters… · Paper Digest Nov 6"
    email = Email(subject=subject, body="text", to=["ada@example.org"])
    email.attach_alternative("<p>html</p>", "text/html")
    parsed = message_from_bytes(email.message().as_bytes())
    assert str(make_header(decode_header(parsed["Subject"]))) == subject
    assert email.subject == subject  # what an ESP's API is given is unchanged
    assert parsed.get_boundary().startswith("=_")
    assert [part.get_content_type() for part in parsed.walk()][1:] == ["text/plain", "text/html"]


@pytest.mark.parametrize("alternatives", [[], [("<p>a</p>", "text/html"), ("{}", "text/x-a")]])
def test_other_shapes_of_email_still_serialise(alternatives):
    email = Email(subject="s", body="b\n", to=["ada@example.org"], alternatives=alternatives)
    parsed = message_from_bytes(email.message().as_bytes())
    assert [part.get_payload(decode=True) for part in parsed.walk() if not part.is_multipart()] == [
        b"b\n",
        *[content.encode() for content, _ in alternatives],
    ]


# Hostile input: what a stranger could put in an address, and what a listing could put in a
# title (and so a subject). The standard library takes these for line breaks.
LINE_BREAKERS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def unsafe(value):
    """The oracle: control characters (C0, C1, DEL) and Unicode's line and paragraph breaks."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)


@pytest.mark.parametrize("character", [*LINE_BREAKERS, "\x00", "\x1b", "\x7f"])
@pytest.mark.parametrize("field", ["to", "subject", "reply_to", "List-Id"])
def test_a_control_character_in_any_header_is_refused_before_mime_is_made(field, character):
    value = f'"a{character}b"@example.org' if field in ("to", "reply_to") else f"a{character}b"
    fields = {"subject": "s", "body": "b", "to": ["ada@example.org"], "headers": {}}
    if field == "List-Id":
        fields["headers"] = {"List-Id": value}
    else:
        fields[field] = value if field == "subject" else [value]
    with pytest.raises(BadHeaderError, match="control character"):
        Email(**fields).message()


@pytest.mark.parametrize("character", LINE_BREAKERS)
def test_every_email_we_make_refuses_them_whatever_the_backend(character):
    # An ESP's HTTP API never calls message(): email_of() checks when the email is made.
    with pytest.raises(BadHeaderError, match="To holds a control character"):
        email_of(subject="s", text="b", html="<p>h</p>", to=f'"a{character}b"@x.org', headers={})
    with pytest.raises(BadHeaderError, match="Subject holds a control character"):
        email_of(subject=f"a{character}b", text="b", html="<p>h</p>", to="a@x.org", headers={})


@pytest.mark.parametrize("character", ["\x0b", "\x0c", "\x1c"])
def test_django_alone_would_write_such_an_address_into_a_broken_header_block(character):
    """Why ``check_headers`` exists: Django checks for CR and LF only, and the standard
    library then folds at the others, so the headers after To: fall into the body."""
    email = EmailMultiAlternatives(
        subject="s", body="b", to=[f'"a{character}b"@example.org'], headers=HEADERS
    )
    parsed = message_from_bytes(email.message().as_bytes())
    assert parsed["Message-ID"] is None


# Any character at all, controls included, in a subject and a header value.
HOSTILE = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@given(
    HOSTILE | HOSTILE.filter(lambda value: not unsafe(value)),
    HOSTILE | HOSTILE.filter(lambda value: not unsafe(value)),
    st.sampled_from(["\n", "\r\n"]),
)
def test_hostile_headers_are_refused_or_written_as_django_writes_them(subject, list_id, linesep):
    headers = {**HEADERS, "List-Id": list_id}
    try:
        ours = both(Email, "text", "<p>h</p>", subject or "s", headers)
    except BadHeaderError:
        assert unsafe(subject) or unsafe(list_id)
        return
    assert not unsafe(subject) and not unsafe(list_id)
    theirs = both(
        EmailMultiAlternatives, "text", "<p>h</p>", encoded_words(subject or "s"), headers
    )
    assert ours.as_bytes(linesep=linesep) == standard_bytes(theirs, linesep)


def test_mime_py_was_checked_against_this_django():
    """``Email.message()`` is Django 5.2's ``message()`` with our parts swapped in: on another
    Django, compare it with the new ``EmailMessage.message()`` before changing this test."""
    assert django.VERSION[:2] == (5, 2)
