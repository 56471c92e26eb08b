"""What an email address may be, and the mailbox it delivers to. No ORM, no settings.

Every place an address enters (the sign-up and resend forms, the admin's subscriber and
test-send forms, the model itself) checks it with ``clean_address``; ``mailbox_of`` is what
the sign-up limits count per person. ``subscriptions.mime.check_headers`` stays the last
fence: whatever got past here still cannot split a header block.
"""

from __future__ import annotations

import ipaddress
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# Providers that deliver ``a.d.a@`` to ``ada@``; googlemail.com is gmail.com by another name.
_DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}

# Names that never reach a mailbox on the Internet: special-use names (RFC 6761, 6762, 7686,
# 8375, 9476) and the ones ICANN will never delegate because networks use them inside.
_LOCAL_ONLY_SUFFIXES = (
    "localhost",
    "local",
    "localdomain",
    "internal",
    "invalid",
    "test",
    "example",
    "onion",
    "alt",
    "home.arpa",
    "lan",
    "home",
    "corp",
    "intranet",
    "private",
)

# Categories no address needs: controls (the email package breaks a header at \x0b, \x0c,
# \x1c-\x1e and \x85 as at a line break), line and paragraph separators, and invisible
# format characters (a right-to-left override makes an address read as another one).
_REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")

MAX_LENGTH = 254  # RFC 5321's limit on a path, less its angle brackets


def normalise_email(value: str) -> str:
    """The address trimmed, with its domain lower-cased (the local part is kept as typed)."""
    local, at, domain = value.strip().rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else value.strip()


def clean_address(value: str) -> str:
    """The address normalised, or ``ValidationError`` with a message for the person who typed
    it: no line breaks or control characters, no quoted local part, a domain on the
    Internet (not a local-only name, not an IP address), and valid as Django sees it."""
    if "\r" in value or "\n" in value:
        raise ValidationError("An email address cannot contain line breaks.")
    if any(unicodedata.category(character) in _REFUSED_CATEGORIES for character in value):
        raise ValidationError("An email address cannot contain control characters.")
    value = normalise_email(value)
    if len(value) > MAX_LENGTH:
        raise ValidationError(
            f"An email address has at most {MAX_LENGTH} characters (this has {len(value)})."
        )
    local, at, domain = value.rpartition("@")
    if '"' in local or "\\" in local:
        # Valid in RFC 5322, but no person needs one, and they carry ",", "@" and spaces
        # into the To: header.
        raise ValidationError(
            "Enter an address without quotation marks or backslashes, like name@example.org."
        )
    if at and _is_ip_address(domain):
        raise ValidationError(
            "Enter an address at a domain name, not an IP address, like name@example.org."
        )
    if at and _is_local_only(domain):
        raise ValidationError(
            f"“{domain}” is not a domain on the Internet: enter an address like name@example.org."
        )
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError("Enter a valid email address, like name@example.org.") from None
    return value


def validate_address(value: str) -> None:
    """``clean_address`` as a model field validator: raise if the address is refused."""
    clean_address(value)


def _is_ip_address(domain: str) -> bool:
    if domain.startswith("[") or domain.endswith("]"):
        return True  # an address literal, [127.0.0.1] or [IPv6:::1]
    try:
        ipaddress.ip_address(domain.rstrip("."))
    except ValueError:
        return False
    return True


def _is_local_only(domain: str) -> bool:
    name = domain.rstrip(".")
    if "." not in name:
        return True  # "localhost", "intranet": a host on someone's own network
    return any(name == suffix or name.endswith(f".{suffix}") for suffix in _LOCAL_ONLY_SUFFIXES)


def mailbox_of(email: str) -> str:
    """The mailbox an address delivers to, as far as we can tell: lower-case, without a
    ``+tag``, and without dots at the providers that ignore them. Only for counting what a
    person is sent; mail goes to the address as it was typed."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at:
        return email.strip().lower()
    untagged = local.split("+", 1)[0] or local  # "+x@" is a name of its own, not a tag
    domain = domain.rstrip(".")
    if domain in _DOTS_IGNORED:
        untagged = untagged.replace(".", "") or untagged
        domain = _DOTS_IGNORED[domain]
    return f"{untagged}@{domain}"
