"""The ESP misbehaving under a real worker: retries, no duplicates, failures in the admin."""

import json
from collections import Counter
from email import message_from_bytes, policy

import pytest
from django.urls import reverse

from papers.models import Topic
from subscriptions.models import Digest
from subscriptions.tasks import send_digests
from tests.factories import make_subscriber
from tests.reliability.services import Worker, celery_and_cache_on, wait_until, worker_env

DAY = "2025-11-06"
SUBSCRIBERS = 8
REJECTED = "refused@example.org"


def delivered(outbox):
    counts = Counter()
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        counts[str(message["To"])] += 1
    return counts


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_failing_esp_is_retried_without_duplicates_and_a_refusal_is_shown(
    postgresql_database_url, private_redis, seeded, tmp_path, admin_client
):
    faces = Topic.objects.get(slug="face-analysis")
    people = [
        make_subscriber(email=f"reader{n}@example.org", topics=[faces]) for n in range(SUBSCRIBERS)
    ]
    make_subscriber(email=REJECTED, topics=[faces])
    var_dir = tmp_path / "var"
    outbox = var_dir / "outbox"
    outbox.mkdir(parents=True)
    # 503 for a while, then a timeout, then 429 with Retry-After, and one address refused.
    script = {"fail_first": 3, "timeout_calls": [5], "rate_limit_calls": [7], "reject": [REJECTED]}
    (var_dir / "esp-script.json").write_text(json.dumps(script))
    env = worker_env(
        database_url=postgresql_database_url,
        redis_url=private_redis.url,
        var_dir=var_dir,
        email_backend="tests.support.flaky_esp.FlakyEsp",
        DIGEST_RETRY_BASE_SECONDS="1",
        CELERY_VISIBILITY_TIMEOUT="30",
    )
    worker = Worker(env=env, log=tmp_path / "worker.log")
    try:
        with celery_and_cache_on(private_redis.url):
            send_digests.delay("daily", DAY)

            def settled():
                # One query, so the count and the statuses are of the same moment (an empty
                # table's statuses are a subset of anything).
                statuses = Counter(Digest.objects.values_list("status", flat=True))
                return statuses.total() == SUBSCRIBERS + 1 and set(statuses) <= {"sent", "failed"}

            wait_until(settled, seconds=90, waiting_for="for every digest to settle", worker=worker)
        worker.stop()
        received = delivered(outbox)
        assert received == {person.email: 1 for person in people}, received
    except BaseException:
        worker.print_log()
        for digest in Digest.objects.select_related("subscriber").order_by("subscriber_id"):
            print(digest.subscriber.email, digest.status, digest.attempts, digest.error)
        raise
    finally:
        worker.stop()

    refused = Digest.objects.get(subscriber__email=REJECTED)
    assert refused.status == "failed"
    assert "400" in refused.error
    # The passing failures were retried: some digests needed more than one attempt.
    assert max(Digest.objects.values_list("attempts", flat=True)) > 1
    summary = admin_client.get(reverse("admin:subscriptions_digest_summary") + f"?period={DAY}")
    assert REJECTED in summary.content.decode()
    assert "ESP answered 400" in summary.content.decode()
