"""Issue 17, item 5: ``rank --date`` ranks as that day's digest would, and commands that
find nothing to do say why."""

from __future__ import annotations

import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from subscriptions.delivery.digests import build_digest_batch
from subscriptions.models import Digest
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_rank_with_a_date_picks_what_that_days_digest_picks(seeded):
    reader = make_subscriber(keywords=["face recognition", "model merging"])
    build_digest_batch(day=date(2025, 11, 6), frequency="daily", first_id=1, last_id=10**9)
    digest = Digest.objects.get(subscriber=reader)
    sent = list(
        digest.items.filter(section="for_you")
        .order_by("position")
        .values_list("paper__title", "score")
    )
    rows = json.loads(
        run(
            "rank",
            "--interests",
            "face recognition",
            "--interests",
            "model merging",
            "--date",
            "2025-11-06",
            "--json",
        )
    )
    assert [(row["title"], row["score"]) for row in rows] == sent


def test_rank_with_a_date_without_papers_says_why(seeded):
    with pytest.raises(CommandError) as error:
        run("rank", "--interests", "faces", "--date", "2025-12-02")
    message = str(error.value)
    assert message.startswith(
        "Nothing to rank: no papers featured (or published) from 2025-11-30 to 2025-12-02, "
        "the daily window of 2025-12-02: latest featured day 2025-11-06; last ingest "
    )
    assert "(succeeded, created 82, updated 0) of " in message


def test_send_digests_on_a_day_without_papers_says_why(seeded):
    make_subscriber(keywords=["faces"])
    output = run("send_digests", "--date", "2025-12-02")
    assert "built 0, sent 0" in output
    assert "(no papers featured (or published) from 2025-11-30 to 2025-12-02" in output
    assert "latest featured day 2025-11-06; last ingest" in output


def test_send_digests_without_readers_says_so(seeded):
    output = run("send_digests", "--date", "2025-11-06", "--frequency", "weekly")
    assert output.strip().endswith("(no active weekly readers)")
    output = run("send_digests", "--date", "2025-11-06", "--hour", "5", "--dry-run")
    assert output.strip().endswith("(no active daily readers hour 5)")


def test_send_digests_run_twice_says_everyone_has_it(seeded):
    make_subscriber(keywords=["face recognition"])
    run("send_digests", "--date", "2025-11-06")
    output = run("send_digests", "--date", "2025-11-06")
    assert "(every active daily reader already has the digest of 2025-11-06)" in output


def test_send_digests_says_when_nothing_new_matched(seeded):
    make_subscriber(keywords=["quantum gravity"])
    output = run("send_digests", "--date", "2025-11-06")
    assert "(nothing new matched the interests of 1 reader)" in output
