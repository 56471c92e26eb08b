import pytest

from papers.models import Paper, PaperTopic, Topic
from papers.tasks import retag_papers
from papers.topics import score_topics, tag_papers, topic_phrases
from tests.factories import make_paper, make_topic, tag

pytestmark = pytest.mark.django_db


def tags_of(title_start):
    paper = Paper.objects.get(title__startswith=title_start)
    return set(paper.topic_tags.exclude(origin="removed").values_list("topic__slug", flat=True))


def test_the_default_topics_cover_the_seed(seeded):
    assert Topic.objects.count() >= 20
    assert "face-analysis" in tags_of("Faceptor")
    assert "face-analysis" in tags_of("FaceXFormer")
    assert "model-merging" in tags_of("FW-Merging")
    assert "recommender-systems" in tags_of("Optimizing Feature Set for Click-Through")
    assert "segmentation" in tags_of("OneFormer")
    assert "face-analysis" not in tags_of("SE-MoE")
    untagged = Paper.objects.filter(topic_tags=None).count()
    assert untagged <= 5, f"{untagged} seed papers have no topic"


def test_a_title_match_weighs_more_than_an_abstract_mention():
    [topic] = topic_phrases([Topic(pk=1, name="Model merging", keywords=["model fusion"])])
    in_title = score_topics(title="Model merging at scale", abstract="", topics=[topic])
    in_abstract = score_topics(title="Scale", abstract="we study model merging", topics=[topic])
    assert in_title[1] > in_abstract[1] > 0
    assert score_topics(title="Cats", abstract="Dogs", topics=[topic]) == {}


@pytest.fixture
def only_our_topics():
    Topic.objects.all().delete()


def test_tags_set_or_removed_by_hand_survive_retagging(only_our_topics):
    faces = make_topic(name="Faces", keywords=["face recognition"])
    robots = make_topic(name="Robots", keywords=["robot"])
    paper = make_paper(title="Face recognition for robots")
    tag_papers(paper_ids=[paper.pk])
    assert set(paper.topic_tags.values_list("topic__name", "origin")) == {
        ("Faces", "auto"),
        ("Robots", "auto"),
    }
    PaperTopic.objects.filter(paper=paper, topic=robots).update(origin="removed")
    other = make_topic(name="Other")
    tag(paper, other, origin="added")

    tag_papers(paper_ids=[paper.pk])
    assert set(paper.topic_tags.values_list("topic__name", "origin")) == {
        ("Faces", "auto"),
        ("Robots", "removed"),
        ("Other", "added"),
    }
    assert faces.paper_tags.count() == 1


def test_changing_a_topic_retags_papers_in_the_background(only_our_topics):
    topic = make_topic(name="Bananas", keywords=[])
    paper = make_paper(title="On the ripening of fruit")
    tag_papers(paper_ids=[paper.pk])
    assert not paper.topic_tags.exists()
    topic.keywords = ["ripening"]
    topic.save()
    retag_papers.delay()
    assert list(paper.topic_tags.values_list("topic__name", flat=True)) == ["Bananas"]
