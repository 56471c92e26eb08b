import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from papers.models import Paper, Topic
from subscriptions.delivery.digests import _json_list, build_digest_batch, period_of
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Digest, DigestItem, Feedback
from tests.factories import make_paper, make_subscriber

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


def build(first_id=1, last_id=10**9, day=DAY, frequency="daily"):
    return build_digest_batch(day=day, frequency=frequency, first_id=first_id, last_id=last_id)


def titles(digest, section):
    return list(
        digest.items.filter(section=section)
        .order_by("position")
        .values_list("paper__title", flat=True)
    )


def topic(slug):
    return Topic.objects.get(slug=slug)


def test_a_subscriber_gets_their_papers_in_order_then_the_days_trending(seeded):
    ada = make_subscriber(topics=[topic("face-analysis")])
    result = build()
    assert (result.built, result.empty) == (1, 0)
    digest = Digest.objects.get(subscriber=ada)
    assert digest.period == "2025-11-06"
    for_you = titles(digest, "for_you")
    assert set(for_you[:4]) == {
        "Unified Negative Pair Generation toward Well-discriminative Feature Space for Face "
        "Recognition",
        "Faceptor: A Generalist Model for Face Perception",
        "FaceXFormer: A Unified Transformer for Facial Analysis",
        "UniF^2ace: Fine-grained Face Understanding and Generation with Unified Multimodal Models",
    }
    scores = list(
        digest.items.filter(section="for_you").order_by("position").values_list("score", flat=True)
    )
    assert scores == sorted(scores, reverse=True)
    reasons = digest.items.get(position=1).reasons
    assert "topic: Face analysis" in reasons
    # Trending: the most upvoted papers of the day that were not already "for you".
    trending = titles(digest, "trending")
    assert len(trending) == 3
    assert trending[0].startswith("Rep-MTL: Unleashing the Power of Representation-level")
    assert not set(trending) & set(for_you)


def test_building_twice_builds_nothing_more(seeded):
    make_subscriber(topics=[topic("face-analysis")])
    build()
    items = list(DigestItem.objects.values_list("pk", "paper_id"))
    assert build().built == 0
    assert Digest.objects.count() == 1
    assert list(DigestItem.objects.values_list("pk", "paper_id")) == items


def test_a_paper_is_never_sent_twice_to_the_same_person(seeded):
    ada = make_subscriber(topics=[topic("face-analysis")])
    run_in_process(day=DAY, frequency="daily")
    first = set(DigestItem.objects.filter(subscriber=ada).values_list("paper_id", flat=True))
    make_paper(title="Face recognition in the wild", featured_on=DAY + timedelta(days=1), upvotes=9)
    Digest.objects.update(day=DAY - timedelta(days=30))  # as if long ago: every paper is "new"
    run_in_process(day=DAY + timedelta(days=1), frequency="daily")
    second = Digest.objects.get(subscriber=ada, period="2025-11-07")
    papers = set(second.items.values_list("paper_id", flat=True))
    assert papers
    assert not papers & first
    assert "Face recognition in the wild" in titles(second, "for_you")


def test_only_papers_newer_than_the_last_digest_are_candidates(seeded):
    ada = make_subscriber(topics=[topic("face-analysis")])
    run_in_process(day=DAY, frequency="daily")
    run_in_process(day=DAY + timedelta(days=1), frequency="daily")
    second = Digest.objects.get(subscriber=ada, period="2025-11-07")
    # Nothing was featured on Nov 7: the seed's papers were Nov 6's news.
    assert second.status == Digest.Status.SKIPPED
    assert not second.items.exists()


def test_nobody_matching_means_no_email_by_default(seeded):
    make_subscriber(keywords=["quantum gravity"])
    result = build()
    assert (result.built, result.empty) == (0, 1)
    digest = Digest.objects.get()
    assert digest.status == Digest.Status.SKIPPED
    assert not digest.items.exists()


def test_a_short_note_instead_when_configured(seeded, settings):
    settings.DIGESTS = {**settings.DIGESTS, "WHEN_EMPTY": "note"}
    make_subscriber(keywords=["quantum gravity"])
    assert build().built == 1
    digest = Digest.objects.get()
    assert digest.status == Digest.Status.PENDING
    assert titles(digest, "for_you") == []
    assert len(titles(digest, "trending")) == 3


@pytest.mark.parametrize("status", ["pending", "paused", "unsubscribed", "bounced", "complained"])
def test_only_active_subscribers_get_a_digest(seeded, status):
    make_subscriber(topics=[topic("face-analysis")], status=status)
    assert build().built == 0
    assert not Digest.objects.exists()


def test_weekly_subscribers_get_one_digest_a_week(seeded):
    weekly = make_subscriber(topics=[topic("model-merging")], frequency="weekly")
    make_subscriber(topics=[topic("model-merging")], frequency="daily")
    assert period_of(day=DAY, frequency="weekly") == "2025-W45"
    build(frequency="weekly")
    assert list(Digest.objects.values_list("subscriber_id", "period")) == [(weekly.pk, "2025-W45")]
    assert build(day=DAY + timedelta(days=1), frequency="weekly").built == 0


def test_excluded_keywords_keep_papers_out_of_both_sections(seeded):
    make_subscriber(topics=[topic("model-merging")], excluded_keywords=["medical", "multi-task"])
    build()
    everything = " ".join(DigestItem.objects.values_list("paper__title", flat=True))
    assert "MedSAMix" not in everything
    assert "Rep-MTL" not in everything  # the day's most upvoted, but about multi-task learning


def test_more_and_less_like_this_steer_the_ranking():
    faces = make_paper(title="Face recognition with margins", featured_on=DAY - timedelta(days=9))
    for title in ["Face anti-spoofing", "Graph neural networks for molecules"]:
        make_paper(title=title, abstract=f"{title}.", featured_on=DAY)
    liker = make_subscriber(keywords=["networks", "face"])
    hater = make_subscriber(keywords=["networks", "face"])
    Feedback.objects.create(subscriber=liker, paper=faces, signal=1)
    Feedback.objects.create(subscriber=hater, paper=faces, signal=-1)
    build()
    liked = titles(Digest.objects.get(subscriber=liker), "for_you")
    hated = titles(Digest.objects.get(subscriber=hater), "for_you")
    assert liked[0] == "Face anti-spoofing"
    assert hated[0] == "Graph neural networks for molecules"


def test_building_a_batch_costs_the_same_queries_for_more_subscribers(seeded):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    from subscriptions.delivery.caches import forget_day

    for many in (3, 60):
        Digest.objects.all().delete()
        forget_day()
        people = [make_subscriber(topics=[topic("segmentation")]) for _ in range(many)]
        with CaptureQueriesContext(connection) as queries:
            build(first_id=people[0].pk, last_id=people[-1].pk)
        # Bulk inserts are split into chunks by SQLite's cap on query parameters; every
        # other query is the same whatever the number of subscribers.
        counts.append(sum(not q["sql"].startswith("INSERT") for q in queries.captured_queries))
    assert counts[0] == counts[1], counts


def test_hidden_papers_are_in_no_section(seeded):
    Paper.objects.filter(title__startswith="Rep-MTL").update(hidden=True)
    make_subscriber(topics=[topic("multi-task-learning")])
    build()
    assert not DigestItem.objects.filter(paper__title__startswith="Rep-MTL").exists()


@given(st.lists(st.text()))
def test_reasons_are_written_as_json_dumps_writes_them(strings):
    assert _json_list(strings) == json.dumps(strings)


def test_saved_and_clicked_papers_raise_similar_papers_in_the_next_digest():
    from subscriptions.models import DigestClick, SavedPaper

    faces = make_paper(title="Face recognition with margins", featured_on=DAY - timedelta(days=9))
    for title in ["Face anti-spoofing", "Graph neural networks for molecules"]:
        make_paper(title=title, abstract=f"{title}.", featured_on=DAY)
    keywords = ["networks", "molecules", "face"]
    saver, clicker, neither = (make_subscriber(keywords=keywords) for _ in range(3))
    # The clicker followed the face paper from an earlier digest.
    earlier = Digest.objects.create(
        subscriber=clicker, period="2025-11-01", day=DAY - timedelta(days=5), frequency="daily"
    )
    DigestClick.objects.create(digest=earlier, paper=faces, clicked_at=earlier.created_at)
    SavedPaper.objects.create(subscriber=saver, paper=faces)
    build()

    def face_score(reader):
        item = DigestItem.objects.get(subscriber=reader, paper__title="Face anti-spoofing")
        return item.score

    # Without either, the molecules paper leads; a save (strong) puts the face paper first,
    # a click (mild) moves it up.
    assert titles(Digest.objects.get(subscriber=neither), "for_you")[0].startswith("Graph")
    assert titles(Digest.objects.get(subscriber=saver), "for_you")[0] == "Face anti-spoofing"
    assert face_score(neither) < face_score(clicker) < face_score(saver)
