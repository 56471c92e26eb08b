"""Every "stop mailing this address" path goes through one service."""

from __future__ import annotations

import pytest

from subscriptions.models import Subscriber
from subscriptions.people.suppression import suppress
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db


def test_it_stops_mail_and_records_when():
    reader = make_subscriber(status=Subscriber.Status.ACTIVE)
    changed = suppress(Subscriber.objects.filter(pk=reader.pk), status=Subscriber.Status.COMPLAINED)
    reader.refresh_from_db()
    assert changed == 1
    assert reader.status == Subscriber.Status.COMPLAINED
    assert reader.unsubscribed_at is not None


def test_it_changes_nothing_the_second_time():
    reader = make_subscriber(status=Subscriber.Status.ACTIVE)
    readers = Subscriber.objects.filter(pk=reader.pk)
    suppress(readers, status=Subscriber.Status.SUPPRESSED)
    first = Subscriber.objects.get(pk=reader.pk).unsubscribed_at
    assert suppress(readers, status=Subscriber.Status.SUPPRESSED) == 0
    assert Subscriber.objects.get(pk=reader.pk).unsubscribed_at == first


def test_it_refuses_a_status_that_keeps_mailing():
    reader = make_subscriber(status=Subscriber.Status.UNSUBSCRIBED)
    with pytest.raises(ValueError, match="does not stop mail"):
        suppress(Subscriber.objects.filter(pk=reader.pk), status=Subscriber.Status.ACTIVE)
    assert Subscriber.objects.get(pk=reader.pk).status == Subscriber.Status.UNSUBSCRIBED
