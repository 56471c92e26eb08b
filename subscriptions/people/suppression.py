"""Stopping mail to an address: the one way every path (the reader, the ESP, an editor) does it.

Mail stopped by a bounce, a complaint or an editor stays stopped: the sign-up form sends
such an address nothing (``FINAL``), and only an editor can lift it (``lift_suppression``).
A reader who unsubscribed themselves can come back through a fresh sign-up.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from subscriptions.addresses import mailbox_of
from subscriptions.models import StoppedAddress, Subscriber
from subscriptions.people.tokens import new_key

logger = logging.getLogger(__name__)

# The statuses that mean "send nothing more", each with who decided it.
STOPPED = (
    Subscriber.Status.UNSUBSCRIBED,  # the reader asked
    Subscriber.Status.BOUNCED,  # the address does not take mail (a hard bounce, a rejection)
    Subscriber.Status.COMPLAINED,  # the reader marked a digest as spam
    Subscriber.Status.SUPPRESSED,  # an editor decided
)

# Of those, the ones nobody but an editor undoes: mailing an address that bounced or
# complained again (even a confirmation a stranger asked for) is what loses the ESP account.
FINAL = (
    Subscriber.Status.BOUNCED,
    Subscriber.Status.COMPLAINED,
    Subscriber.Status.SUPPRESSED,
)


def suppress(subscribers: QuerySet[Subscriber], *, status: Subscriber.Status) -> int:
    """Send ``subscribers`` nothing more, recording why (``status``, one of ``STOPPED``) and
    when; return how many changed. Those already in that status are left as they are, so
    repeating it (a replayed event, a second click) changes nothing.

    Each changed subscriber gets a new key: links made before (preferences, feedback, and a
    confirmation that could otherwise make them active again) stop working; unsubscribe
    links hold no key and keep answering."""
    if status not in STOPPED:
        raise ValueError(f"{status!r} does not stop mail; expected one of {STOPPED}")
    return subscribers.exclude(status=status).update(
        status=status, unsubscribed_at=timezone.now(), manage_key=new_key()
    )


def is_final(subscriber: Subscriber) -> bool:
    """Whether mail to this subscriber stopped for good (bounced, complained, an editor)."""
    return subscriber.status in FINAL


def address_key(email: str) -> str:
    """A keyed hash of the address's mailbox: it names no one, and cannot be reversed or
    matched without the site's SECRET_KEY (rotating that key forgets every such record)."""
    digest = salted_hmac("paper-digest.stopped-address", mailbox_of(email), algorithm="sha256")
    return digest.hexdigest()


def remember_if_final(subscriber: Subscriber) -> None:
    """Before a subscriber whose mail stopped for good deletes their data: keep only that
    it stopped, under ``address_key``, so that deleting cannot undo a bounce or complaint."""
    if is_final(subscriber):
        StoppedAddress.objects.get_or_create(
            key=address_key(subscriber.email), defaults={"status": subscriber.status}
        )


def remembered_final_status(email: str) -> str | None:
    """How mail to this address stopped for good before its subscriber deleted their data,
    if it did."""
    remembered = StoppedAddress.objects.filter(key=address_key(email))
    return remembered.values_list("status", flat=True).first()


def lift_suppression(subscribers: QuerySet[Subscriber], *, by: str) -> dict[int, str]:
    """Let the ``FINAL`` ones among ``subscribers`` sign up again: they become unsubscribed
    (still sent nothing) until a fresh sign-up is confirmed from their inbox.

    Returns the status each changed subscriber had, by id; ``by`` (who lifted it) goes to
    the log. The others are left as they are, so lifting twice changes nothing.
    """
    with transaction.atomic():
        locked = subscribers.filter(status__in=FINAL).select_for_update()
        before = dict(locked.values_list("pk", "status"))
        lifted = Subscriber.objects.filter(pk__in=before)
        lifted.update(
            status=Subscriber.Status.UNSUBSCRIBED, soft_bounces=0, last_soft_bounce_at=None
        )
        keys = [address_key(email) for email in lifted.values_list("email", flat=True)]
        StoppedAddress.objects.filter(key__in=keys).delete()
    for pk, status in before.items():
        logger.warning("suppression of subscriber %s (%s) lifted by %s", pk, status, by)
    return before
