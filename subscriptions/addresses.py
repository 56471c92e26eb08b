"""What an email address may be, and the mailbox it delivers to. Pure: no ORM, no settings.

Every place an address enters (the sign-up and resend forms, the admin) goes through
``clean_address``; ``mailbox_of`` is what sign-up limits count per person.
"""

from __future__ import annotations

# Providers that deliver ``a.d.a@`` to ``ada@``; googlemail.com is gmail.com by another name.
_DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def normalise_email(value: str) -> str:
    """The address trimmed, with its domain lower-cased (the local part is kept as typed)."""
    local, at, domain = value.strip().rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else value.strip()


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
