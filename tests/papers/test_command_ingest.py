from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from papers.models import Paper
from tests.conftest import FIXTURES, SEED_LISTING, fixture_bytes

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("ingest", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_it_prints_the_counts():
    assert "created 82, updated 0, unchanged 0, skipped 0" in run(str(SEED_LISTING))
    assert "created 0, updated 0, unchanged 82, skipped 0" in run(str(SEED_LISTING))


def test_it_prints_the_reason_for_each_skipped_entry():
    output = run(str(FIXTURES / "hf-daily-papers.json"))
    assert "skipped 1" in output
    assert "skipped entry 4" in output


def test_it_fails_with_the_source_named_on_a_bad_document(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(fixture_bytes("hf-login-page.html"))
    with pytest.raises(CommandError, match=str(path)):
        run(str(path))
    assert Paper.objects.count() == 0


def test_the_format_option_overrides_detection():
    with pytest.raises(CommandError, match="JSON"):
        run(str(SEED_LISTING), "--format", "hf-json")


def test_it_fetches_a_source_for_a_date(monkeypatch):
    fetched = []

    def fake_fetch(url):
        fetched.append(url)
        return fixture_bytes("hf-daily-papers.json")

    monkeypatch.setattr("papers.ingest.fetch_document", fake_fetch)
    output = run("--source", "hf", "--date", "2025-11-06")
    assert fetched == ["https://huggingface.co/api/daily_papers?date=2025-11-06"]
    assert "created 5" in output


def test_it_backfills_every_day_since_a_date(monkeypatch):
    fetched = []
    monkeypatch.setattr(
        "papers.ingest.fetch_document",
        lambda url: fetched.append(url) or fixture_bytes("hf-daily-papers.json"),
    )
    output = run("--source", "hf", "--since", "2025-11-04", "--date", "2025-11-06")
    assert [url[-10:] for url in fetched] == ["2025-11-04", "2025-11-05", "2025-11-06"]
    assert output.count("unchanged") == 3
    assert Paper.objects.filter(featured_on__gte=date(2025, 11, 4)).count() == 5


def test_it_ingests_arxiv_categories(monkeypatch):
    fetched = []
    monkeypatch.setattr(
        "papers.ingest.fetch_document",
        lambda url: fetched.append(url) or fixture_bytes("arxiv-list-cs-LG-new.html"),
    )
    run("--source", "arxiv", "--category", "cs.LG")
    assert fetched == ["https://arxiv.org/list/cs.LG/new"]
    assert Paper.objects.filter(sources__source="arxiv").exists()


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("file.txt", "--source", "hf"),
        ("--source", "hf", "--date", "06/11/2025"),
        ("file.txt", "--since", "2025-11-01"),
    ],
)
def test_it_rejects_confused_arguments(args):
    with pytest.raises(CommandError):
        run(*args)
