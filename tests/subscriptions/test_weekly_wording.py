"""Issue 17, item 4: a weekly digest speaks of its week, a daily one of its day."""

from __future__ import annotations

from datetime import date

import pytest
from django.core import mail

from papers.models import Topic
from subscriptions.delivery.render import digest_subject
from subscriptions.delivery.runs import run_in_process
from tests.factories import make_subscriber

pytestmark = pytest.mark.django_db


def test_a_weekly_digest_says_this_week_and_gives_the_weeks_dates(seeded):
    make_subscriber(frequency="weekly", topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=date(2025, 11, 10), frequency="weekly")
    [email] = mail.outbox
    assert email.subject.endswith("· Paper Digest Nov 4\u201310")
    html = email.alternatives[0][0]
    for part in (email.body, html):
        assert "This week: November 4 to November 10, 2025" in part
        assert "today" not in part.lower()
    assert "FOR YOU THIS WEEK" in email.body and "TRENDING THIS WEEK" in email.body
    assert "For you this week</h1>" in html and "Trending this week</h2>" in html


def test_a_daily_digest_still_speaks_of_its_day(seeded):
    make_subscriber(topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=date(2025, 11, 6), frequency="daily")
    [email] = mail.outbox
    assert email.subject.endswith("· Paper Digest Nov 6")
    assert "Thursday, November 6, 2025" in email.body and "TRENDING TODAY" in email.body


def test_a_week_across_two_months_names_both():
    assert digest_subject(date(2025, 11, 3), [], weekly=True) == (
        "Nothing new in your topics this week · Paper Digest Oct 28 \u2013 Nov 3"
    )
