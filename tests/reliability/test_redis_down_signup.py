"""Redis stops while people subscribe: they still get "check your inbox", and one email later.

Redis is the Celery broker and the Django cache. A private
redis-server plays both; it is stopped between two sign-ups. The first sign-up's task
message is lost with it (no persistence), the second cannot be queued at all. Both people see
the normal answer at once and stay owed a confirmation. Once Redis is back, a third sign-up
is queued again as usual, the sweep beat runs (``send_owed_confirmations``) sends each of
the three exactly one email, and the queued task, run after it, sends nothing more.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core import mail

from subscriptions.models import Subscriber
from subscriptions.people.signup import owed_confirmation_ids
from subscriptions.tasks import send_confirmation, send_owed_confirmations

from .services import celery_and_cache_on

# What "at once" means for a sign-up page while Redis is down.
ANSWER_SECONDS = 5
BEFORE = "before@example.org"  # signs up while Redis runs; the task message is then lost
DURING = "during@example.org"  # signs up while Redis is down
AFTER = "after@example.org"  # signs up once Redis is back; the sweep gets there first


def sign_up(client, address: str):
    started = time.monotonic()
    response = client.post(
        "/subscribe/",
        {"email": address, "topics": ["face-analysis"], "frequency": "daily"},
    )
    return response, time.monotonic() - started


def queued_confirmations(queue) -> list[str]:
    """The subscriber ids of the confirmation tasks waiting in the broker's queue."""
    messages = [json.loads(raw) for raw in queue.lrange("celery", 0, -1)]
    assert {m["headers"]["task"] for m in messages} <= {"subscriptions.tasks.send_confirmation"}
    return [m["headers"]["argsrepr"] for m in messages]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_sign_ups_while_redis_is_down_are_confirmed_once_when_it_is_back(
    client, default_topics, private_redis
):
    import redis

    queue = redis.Redis.from_url(private_redis.url)
    try:
        with celery_and_cache_on(private_redis.url):
            check_the_outage(client, private_redis, queue)
    finally:
        queue.close()


def check_the_outage(client, private_redis, queue) -> None:
    response, seconds = sign_up(client, BEFORE)
    assert response.status_code == 302, response.content[:500]
    before = Subscriber.objects.get(email=BEFORE)
    # The task went to the broker (no worker runs: it waits there, unsent).
    assert queued_confirmations(queue) == [f"({before.pk},)"]

    private_redis.stop()
    response, seconds = sign_up(client, DURING)

    # What the person sees: the usual "check your inbox", without waiting on Redis.
    assert response.status_code == 302, response.content[:500]
    assert response["Location"] == "/subscribe/check-inbox/"
    print(f"\nsign-up with Redis down answered in {seconds:.2f} s")
    assert seconds < ANSWER_SECONDS, f"the sign-up took {seconds:.1f} s with Redis down"
    # Saved as pending, the confirmation owed (the task could not be queued).
    during = Subscriber.objects.get(email=DURING)
    assert during.status == Subscriber.Status.PENDING
    assert during.confirmation_requested_at is not None
    assert during.confirmation_sent_at is None
    # The interests wait in the row for the task (or the sweep) that applies them.
    assert during.requested_interests is not None
    assert mail.outbox == []

    private_redis.start()
    # Redis came back empty: the first sign-up's message is gone too.
    assert queued_confirmations(queue) == []
    assert set(owed_confirmation_ids()) == {before.pk, during.pk}
    # The site queues tasks again by itself (its broker connection recovers).
    response, seconds = sign_up(client, AFTER)
    assert response.status_code == 302, response.content[:500]
    after = Subscriber.objects.get(email=AFTER)
    assert queued_confirmations(queue) == [f"({after.pk},)"]

    # The sweep beat runs every five minutes: everyone owed gets their email.
    assert send_owed_confirmations() == 3
    # A worker then runs the queued task: the confirmation is no longer owed, no email.
    assert send_confirmation.apply(args=[after.pk]).get() is False
    assert list(Subscriber.objects.get(email=DURING).topics.values_list("slug", flat=True)) == [
        "face-analysis"
    ]
    # The next sweep finds nothing owed.
    assert send_owed_confirmations() == 0
    assert owed_confirmation_ids() == []

    # One confirmation each, no more.
    assert sorted(address for message in mail.outbox for address in message.to) == sorted(
        [BEFORE, DURING, AFTER]
    )
    [email] = [message for message in mail.outbox if DURING in message.to]
    assert email.subject == "Confirm your Paper Digest subscription"
    assert "/confirm/" in email.body
