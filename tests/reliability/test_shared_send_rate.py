"""One send rate for every worker together: two real workers on one Redis, a real ESP API."""

from collections import Counter

import pytest

from benchmarks.fake_esp import start_fake_esp
from subscriptions.models import Digest
from subscriptions.tasks import send_digests
from tests.reliability.services import (
    Worker,
    celery_and_cache_on,
    make_readers,
    wait_until,
    worker_env,
)

DAY = "2025-11-06"
READERS = 80
RATE = 20  # a second, for both workers together; a burst of 10% (2) may start early


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_workers_together_keep_to_one_rate(
    postgresql_database_url, private_redis, seeded, tmp_path
):
    make_readers(READERS)
    with start_fake_esp(latency_ms=20) as esp:
        env = worker_env(
            database_url=postgresql_database_url,
            redis_url=private_redis.url,
            var_dir=tmp_path / "var",
            email_backend="anymail.backends.postmark.EmailBackend",
            DIGEST_SEND_RATE_PER_SECOND=str(RATE),
            DIGEST_BATCH_SIZE="10",  # eight batches, shared by the two workers
            **{name: value for name, value in esp.environ().items() if name != "EMAIL_BACKEND"},
        )
        workers = [Worker(env=env, log=tmp_path / f"worker{n}.log") for n in range(2)]
        try:
            with celery_and_cache_on(private_redis.url):
                send_digests.delay("daily", DAY)

                def all_sent():
                    statuses = Counter(Digest.objects.values_list("status", flat=True))
                    return statuses == {"sent": READERS}

                wait_until(all_sent, seconds=90, waiting_for="for every digest to be sent")
            stats = esp.stats()
        except BaseException:
            for worker in workers:
                worker.print_log()
            raise
        finally:
            for worker in workers:
                worker.stop()
    assert (stats["unique_recipients"], stats["duplicate_recipients"]) == (READERS, 0)
    # Every full second (the first and last are partial) within the rate and its burst;
    # with a limit per worker instead of one for both, they would send twice as many.
    full_seconds = stats["accepted_per_second"][1:-1]
    assert full_seconds, stats["accepted_per_second"]
    assert max(full_seconds) <= RATE + 2, stats["accepted_per_second"]
    assert READERS / stats["accept_span_seconds"] <= RATE * 1.1, stats["accept_span_seconds"]
