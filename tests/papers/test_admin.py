import re

import pytest
from django.urls import reverse

from papers.models import Paper, PaperTopic, Topic
from papers.topics import tag_papers
from tests.factories import make_paper, make_topic

pytestmark = pytest.mark.django_db


def management_forms(admin_client, paper):
    """The inline management-form fields the change page renders, as a browser sends them."""
    html = admin_client.get(reverse("admin:papers_paper_change", args=[paper.pk])).content
    return dict(
        re.findall(r'name="([^"]+-(?:INITIAL|MIN_NUM|MAX_NUM)_FORMS)" value="(\d+)"', html.decode())
    )


def inline_form(paper, tags, **changes):
    """The POST body of the paper change form, with its topic-tag inline rows."""
    data = {
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": "[]",
        "categories": "[]",
        "keywords": "[]",
        "upvotes": paper.upvotes,
        "comment_count": paper.comment_count,
        "featured_on": paper.featured_on.isoformat(),
        "topic_tags-TOTAL_FORMS": len(tags),
        "topic_tags-INITIAL_FORMS": sum(1 for t in tags if t.get("id")),
        "topic_tags-MIN_NUM_FORMS": 0,
        "topic_tags-MAX_NUM_FORMS": 1000,
    }
    for index, tag in enumerate(tags):
        for key, value in tag.items():
            data[f"topic_tags-{index}-{key}"] = value
        data[f"topic_tags-{index}-paper"] = paper.pk
    data.update(changes)
    return data


def test_tags_changed_in_the_admin_are_kept_by_later_tagging(admin_client):
    Topic.objects.all().delete()
    faces = make_topic(name="Faces", keywords=["face"])
    robots = make_topic(name="Robots", keywords=["robot"])
    paper = make_paper(title="Face detection")
    tag_papers(paper_ids=[paper.pk])
    auto = paper.topic_tags.get(topic=faces)

    url = reverse("admin:papers_paper_change", args=[paper.pk])
    # Other inlines (upvote history, digests) are sent back empty, as a browser does.
    others = {
        name.replace("INITIAL_FORMS", "TOTAL_FORMS"): "0"
        for name in management_forms(admin_client, paper)
        if name.endswith("INITIAL_FORMS") and not name.startswith("topic_tags")
    }
    body = {**management_forms(admin_client, paper), **others}
    body.update(
        inline_form(
            paper,
            [
                {"id": auto.pk, "topic": faces.pk, "origin": "auto", "DELETE": "on"},
                {"topic": robots.pk, "origin": "auto"},
            ],
        )
    )
    response = admin_client.post(url, body)
    assert response.status_code == 302, response.content.decode()[:2000]
    tag_papers(paper_ids=[paper.pk])
    assert set(paper.topic_tags.values_list("topic__name", "origin")) == {
        ("Faces", "removed"),
        ("Robots", "added"),
    }


def test_editing_a_topics_keywords_retags_papers(admin_client, django_capture_on_commit_callbacks):
    topic = Topic.objects.get(slug="face-analysis")
    paper = make_paper(title="Portraits of cats")
    url = reverse("admin:papers_topic_change", args=[topic.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url,
            {
                "name": topic.name,
                "slug": topic.slug,
                "description": topic.description,
                "keywords": '["portraits"]',
            },
        )
    assert response.status_code == 302
    assert PaperTopic.objects.filter(paper=paper, topic=topic, origin="auto").exists()


def test_editors_pin_and_hide_in_bulk(admin_client):
    papers = [make_paper(), make_paper()]
    url = reverse("admin:papers_paper_changelist")
    ids = [p.pk for p in papers]
    admin_client.post(url, {"action": "pin", "_selected_action": ids})
    admin_client.post(url, {"action": "hide", "_selected_action": ids[:1]})
    assert list(Paper.objects.order_by("pk").values_list("pinned", "hidden")) == [
        (True, True),
        (True, False),
    ]
