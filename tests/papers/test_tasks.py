import time

import pytest
from celery.contrib.testing.worker import start_worker

from digest_site.celery import app as celery_app
from papers.models import IngestRun, Paper
from papers.tasks import ingest_source
from tests.conftest import fixture_bytes


@pytest.fixture
def fake_hf(monkeypatch):
    fetched = []

    def fetch(url):
        fetched.append(url)
        return fixture_bytes("hf-daily-papers.json")

    monkeypatch.setattr("papers.ingest.fetch_document", fetch)
    return fetched


@pytest.mark.django_db
def test_the_task_ingests_a_source_and_can_run_twice(fake_hf):
    first = ingest_source.delay("hf", "2025-11-06").get()
    second = ingest_source.delay("hf", "2025-11-06").get()
    assert first[0]["created"] == 5
    assert (second[0]["created"], second[0]["unchanged"]) == (0, 5)
    assert fake_hf == ["https://huggingface.co/api/daily_papers?date=2025-11-06"] * 2
    assert Paper.objects.count() == 5


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_ingest_through_redis(redis_url, fake_hf):
    celery_app.conf.task_always_eager = False
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        ingest_source.delay("hf", "2025-11-06")
        deadline = time.monotonic() + 30
        while not IngestRun.objects.filter(status="succeeded").exists():
            assert time.monotonic() < deadline, "the worker did not run the task within 30 s"
            time.sleep(0.1)
    assert Paper.objects.count() == 5
    assert celery_app.conf.broker_url.startswith("redis://")


@pytest.mark.django_db
def test_the_default_beat_schedule_ingests_both_sources():
    from django_celery_beat.models import PeriodicTask

    scheduled = PeriodicTask.objects.filter(task="papers.tasks.ingest_source", enabled=True)
    assert sorted(task.kwargs for task in scheduled) == [
        '{"source": "arxiv", "categories": ["cs.LG", "cs.CV", "cs.CL", "cs.AI", "cs.IR"]}',
        '{"source": "hf"}',
    ]
    assert "papers.tasks.ingest_source" in celery_app.tasks
