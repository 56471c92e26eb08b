"""Issue 17, item 3: each reader gets their digest at their local hour, in their time zone."""

from __future__ import annotations

from datetime import UTC
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from papers.models import Topic
from subscriptions.models import Digest
from tests.beat import run_schedule, utc
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db

HOURLY = "Send the digests due this hour"


@pytest.fixture
def readers(seeded):
    faces = [Topic.objects.get(slug="face-analysis")]
    return {
        "tokyo": make_subscriber(time_zone="Asia/Tokyo", send_hour=7, topics=faces),
        "new_york": make_subscriber(time_zone="America/New_York", send_hour=7, topics=faces),
        "paris": make_subscriber(time_zone="Europe/Paris", send_hour=18, topics=faces),
    }


def built_and_sent(reader) -> list[tuple[str, str, object, object]]:
    return [
        (d.period, d.status, d.created_at.astimezone(UTC), d.sent_at and d.sent_at.astimezone(UTC))
        for d in Digest.objects.filter(subscriber=reader, period__in=["2025-11-06", "2025-W46"])
    ]


def test_readers_in_three_time_zones_get_their_digest_at_their_local_hour(readers):
    run_schedule(names=[HOURLY], start=utc(2025, 11, 5, 12, 0), end=utc(2025, 11, 7, 0, 0))
    # 07:00 in Tokyo is 22:00 UTC the day before; 07:00 in New York (EST) is 12:00 UTC;
    # 18:00 in Paris (CET) is 17:00 UTC. Each one's period is their own local date.
    assert built_and_sent(readers["tokyo"]) == [
        ("2025-11-06", "sent", utc(2025, 11, 5, 22, 0), utc(2025, 11, 5, 22, 0))
    ]
    assert built_and_sent(readers["new_york"]) == [
        ("2025-11-06", "sent", utc(2025, 11, 6, 12, 0), utc(2025, 11, 6, 12, 0))
    ]
    assert built_and_sent(readers["paris"]) == [
        ("2025-11-06", "sent", utc(2025, 11, 6, 17, 0), utc(2025, 11, 6, 17, 0))
    ]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers.values())


def test_each_reader_is_due_in_one_hourly_run_only(readers):
    # 12:00 UTC is 07:00 in New York: that run sends its reader; the runs after it never
    # take the same readers again, nor Paris's before 17:00 (18:00 there).
    run_schedule(names=[HOURLY], start=utc(2025, 11, 6, 12, 0), end=utc(2025, 11, 6, 17, 0))
    assert Digest.objects.filter(subscriber=readers["new_york"]).count() == 1
    assert len(mail.outbox) == 1
    assert not Digest.objects.filter(subscriber=readers["paris"]).exists()
    run_schedule(names=[HOURLY], start=utc(2025, 11, 6, 17, 0), end=utc(2025, 11, 6, 18, 0))
    assert Digest.objects.get(subscriber=readers["paris"]).period == "2025-11-06"
    assert len(mail.outbox) == 2


def test_an_hour_the_beat_missed_is_caught_up_by_the_next_hourly_run(readers, settings):
    settings.DIGESTS = {**settings.DIGESTS, "CATCH_UP_HOURS": 6}
    # The beat is down from 11:30 to 16:10 UTC: the 12:00 run (07:00 in New York) never
    # starts. The first run after it, at 17:00, starts it before its own (Paris).
    run_schedule(names=[HOURLY], start=utc(2025, 11, 6, 17, 0), end=utc(2025, 11, 6, 19, 0))
    [(period, status, built, _)] = built_and_sent(readers["new_york"])
    assert (period, status, built) == ("2025-11-06", "sent", utc(2025, 11, 6, 17, 0))
    assert Digest.objects.get(subscriber=readers["paris"]).period == "2025-11-06"
    # Tokyo's hour (22:00 UTC the day before) is outside the six hours: not caught up.
    assert not Digest.objects.filter(subscriber=readers["tokyo"]).exists()
    assert len(mail.outbox) == 2


def test_an_hour_missed_longer_ago_than_the_catch_up_window_is_left_to_the_operator(
    readers, settings
):
    settings.DIGESTS = {**settings.DIGESTS, "CATCH_UP_HOURS": 4}
    run_schedule(names=[HOURLY], start=utc(2025, 11, 6, 17, 0), end=utc(2025, 11, 6, 18, 0))
    assert not Digest.objects.filter(subscriber=readers["new_york"]).exists()  # 5 h late
    assert Digest.objects.filter(subscriber=readers["paris"]).count() == 1


def test_a_weekly_reader_gets_it_on_their_day_at_their_hour():
    reader = make_subscriber(
        frequency="weekly", time_zone="Asia/Tokyo", send_hour=8, send_weekday=3, keywords=["x"]
    )
    make_subscriber(frequency="weekly", keywords=["y"])  # Monday 07:00 UTC, the default
    from tests.factories import make_paper

    make_paper(title="x marks the spot", featured_on=utc(2025, 11, 11).date())
    make_paper(title="y not", featured_on=utc(2025, 11, 9).date())
    # Wednesday 2025-11-12 08:00 in Tokyo is Tuesday 23:00 UTC.
    run_schedule(names=[HOURLY], start=utc(2025, 11, 10, 0, 0), end=utc(2025, 11, 13, 0, 0))
    [(period, status, built, _)] = built_and_sent(reader)
    assert (period, status, built) == ("2025-W46", "sent", utc(2025, 11, 11, 23, 0))
    assert Digest.objects.exclude(subscriber=reader).get().created_at == utc(2025, 11, 10, 7, 0)


def test_send_digests_with_a_date_still_sends_everyone_whatever_their_hour(readers):
    out = StringIO()
    with time_machine.travel(utc(2025, 11, 6, 3, 0), tick=False):  # nobody's hour
        call_command("send_digests", "--date", "2025-11-06", stdout=out)
    assert "built 3, sent 3" in out.getvalue()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers.values())


def test_send_digests_with_an_hour_sends_only_the_readers_of_that_local_hour(readers):
    out = StringIO()
    with time_machine.travel(utc(2025, 11, 6, 3, 0), tick=False):
        call_command("send_digests", "--date", "2025-11-06", "--hour", "7", stdout=out)
        assert "built 2, sent 2" in out.getvalue()
        call_command("send_digests", "--date", "2025-11-06", stdout=out)  # the rest, once
    assert "built 1, sent 1" in out.getvalue()
    assert len(mail.outbox) == 3


def test_the_hourly_task_takes_the_hour_it_is_given_without_a_zone_as_utc(readers):
    from subscriptions.tasks import send_due_digests

    with time_machine.travel(utc(2025, 11, 6, 12, 0), tick=False):
        assert send_due_digests.apply(kwargs={"at": "2025-11-06T12:20:00"}).get() == 1
    assert Digest.objects.get().subscriber == readers["new_york"]


def test_a_reader_with_a_zone_the_machine_does_not_know_is_served_as_utc(seeded):
    # The forms refuse such a name; one written some other way still gets the digest.
    reader = make_subscriber(time_zone="Mars/Olympus_Mons", send_hour=9, keywords=["faces"])
    run_schedule(names=[HOURLY], start=utc(2025, 11, 6, 0, 0), end=utc(2025, 11, 7, 0, 0))
    assert Digest.objects.get(subscriber=reader).created_at == utc(2025, 11, 6, 9, 0)


def test_a_reader_whose_hour_the_clocks_skip_gets_it_the_hour_after(seeded):
    # 2025-03-09 in New York: 02:00 EST never comes, the clocks go from 01:59 to 03:00 EDT
    # (07:00 UTC). A reader of 02:00 gets that day's digest at 03:00, the others as usual.
    early = make_subscriber(time_zone="America/New_York", send_hour=2, keywords=["faces"])
    usual = make_subscriber(time_zone="America/New_York", send_hour=3, keywords=["faces"])
    run_schedule(names=[HOURLY], start=utc(2025, 3, 9, 0, 0), end=utc(2025, 3, 10, 0, 0))
    assert Digest.objects.get(subscriber=early).created_at == utc(2025, 3, 9, 7, 0)
    assert Digest.objects.get(subscriber=usual).created_at == utc(2025, 3, 9, 7, 0)
    run_schedule(names=[HOURLY], start=utc(2025, 3, 10, 0, 0), end=utc(2025, 3, 11, 0, 0))
    later = Digest.objects.filter(subscriber=early, period="2025-03-10").get()
    assert later.created_at == utc(2025, 3, 10, 6, 0)  # 02:00 EDT


def test_a_reader_of_midnight_where_the_clocks_skip_midnight_gets_it_the_hour_after(seeded):
    # 2026-09-06 in Santiago: 00:00 never comes, the clocks go from 23:59 (UTC-4) to 01:00
    # (UTC-3), at 04:00 UTC. A reader of 00:00 gets that day's digest at 01:00.
    reader = make_subscriber(time_zone="America/Santiago", send_hour=0, keywords=["faces"])
    run_schedule(names=[HOURLY], start=utc(2026, 9, 6, 0, 0), end=utc(2026, 9, 7, 0, 0))
    [digest] = Digest.objects.filter(subscriber=reader)
    assert (digest.period, digest.created_at) == ("2026-09-06", utc(2026, 9, 6, 4, 0))
