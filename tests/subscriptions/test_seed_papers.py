"""A good first digest: papers a reader pasted seed their profile; a live preview of it."""

from datetime import date

import pytest

from papers.embeddings import embed_papers
from papers.models import Paper, TextEmbedding
from papers.selectors import find_papers
from subscriptions.delivery.digests import build_digest_batch
from subscriptions.models import Digest, Feedback, Subscriber
from subscriptions.people.tokens import preferences_token
from tests.factories import make_paper, make_subscriber

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


@pytest.fixture
def papers():
    made = {
        "liked": make_paper(
            title="Speculative decoding with a small draft model",
            abstract="Draft tokens verified by the large model: faster decoding.",
            arxiv_id="2505.01234",
            featured_on=date(2025, 10, 20),
        ),
        "similar": make_paper(
            title="Faster LLM inference by drafting and verifying tokens",
            abstract="Acceleration of language model inference, learning to draft.",
            featured_on=DAY,
        ),
        "other": make_paper(
            title="Graph neural networks for molecules",
            abstract="Molecule property prediction, learning on graphs.",
            featured_on=DAY,
        ),
    }
    embed_papers(paper_ids=[paper.pk for paper in made.values()])
    return made


def test_pasted_ids_links_and_titles_find_the_papers(papers):
    liked = papers["liked"].pk
    found, missing = find_papers(
        entries=[
            "2505.01234",
            "https://arxiv.org/abs/2505.01234v2",
            "https://huggingface.co/papers/2505.01234",
            "speculative decoding with a small draft model",
            "A paper we never stored",
        ]
    )
    assert set(found.values()) == {liked}
    assert len(found) == 4
    assert missing == ["A paper we never stored"]


def test_a_pasted_paper_seeds_the_profile_and_brings_papers_like_it(client, papers):
    reader = make_subscriber(keywords=["learning"])
    other_reader = make_subscriber(keywords=["learning"])
    response = client.post(
        f"/preferences/{preferences_token(reader)}/",
        {
            "action": "save",
            "keywords": "learning",
            "liked_papers": "https://huggingface.co/papers/2505.01234",
            "frequency": "daily",
        },
    )
    assert response.status_code == 302
    assert list(Feedback.objects.filter(subscriber=reader).values_list("paper", "signal")) == [
        (papers["liked"].pk, 1)
    ]
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)

    def first_pick(subscriber):
        digest = Digest.objects.get(subscriber=subscriber)
        return digest.items.filter(section="for_you").order_by("position").first().paper_id

    assert first_pick(reader) == papers["similar"].pk
    reasons = Digest.objects.get(subscriber=reader).items.get(paper=papers["similar"]).reasons
    assert "like “Speculative decoding with a small draft model” you liked" in reasons
    # Without the seed, the same interests rank the molecules paper first (shorter, same word).
    assert first_pick(other_reader) == papers["other"].pk


def test_signing_up_with_a_pasted_paper_seeds_the_profile(
    client, papers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/subscribe/",
            {
                "email": "ada@example.org",
                "keywords": "decoding",
                "liked_papers": "2505.01234",
                "frequency": "daily",
            },
        )
    reader = Subscriber.objects.get()
    assert list(Feedback.objects.filter(subscriber=reader).values_list("paper", flat=True)) == [
        papers["liked"].pk
    ]


def test_a_paper_not_found_is_named_next_to_the_field_and_nothing_is_saved(client, papers):
    reader = make_subscriber(keywords=["learning"])
    response = client.post(
        f"/preferences/{preferences_token(reader)}/",
        {
            "action": "save",
            "keywords": "decoding",
            "liked_papers": "Unknown paper",
            "frequency": "daily",
        },
    )
    assert response.status_code == 400
    assert "Not among the papers we have: “Unknown paper”" in response.content.decode()
    reader.refresh_from_db()
    assert reader.keywords == ["learning"]


def test_the_live_preview_is_a_fragment_of_the_ranking_and_changes_nothing(client, papers):
    response = client.get("/preview/", {"keywords": "graph neural networks"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "Graph neural networks for molecules" in html
    assert "matches: graph neural networks" in html
    assert client.post("/preview/", {"keywords": "x"}).status_code == 405
    assert not Subscriber.objects.exists()


def test_what_a_visitor_types_into_the_preview_is_embedded_but_never_stored(client, papers):
    # The phrase was never stored: the preview embeds it and ranks with it ...
    response = client.get("/preview/", {"keywords": "accelerating LLM generation"})
    assert "Faster LLM inference by drafting and verifying tokens" in response.content.decode()
    # ... but an anonymous GET writes nothing: anyone may type anything, as often as they like.
    assert not TextEmbedding.objects.exists()


def test_the_preview_button_works_without_javascript_and_subscribes_no_one(client, papers):
    response = client.post(
        "/subscribe/",
        {"email": "ada@example.org", "keywords": "graph neural networks", "action": "preview"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "What your digest would have held today" in html
    assert "Graph neural networks for molecules" in html
    assert "graph neural networks</textarea>" in html
    assert not Subscriber.objects.exists()


def test_a_visitor_gets_so_many_previews_an_hour(client, papers, settings):
    settings.PREVIEWS_PER_IP_PER_HOUR = 2
    for _ in range(2):
        assert client.get("/preview/", {"keywords": "graph neural networks"}).status_code == 200
    refused = client.get("/preview/", {"keywords": "graph neural networks"})
    assert refused.status_code == 429
    assert "Too many previews" in refused.content.decode()
    assert "Graph neural networks for molecules" not in refused.content.decode()
    # The preview button without JavaScript counts too; the sign-up itself is not refused.
    page = client.post(
        "/subscribe/",
        {"email": "ada@example.org", "keywords": "graph neural networks", "action": "preview"},
    )
    assert "Too many previews" in page.content.decode()
    assert not Subscriber.objects.exists()


def test_a_pasted_paper_is_not_sent_back_to_the_reader_who_pasted_it(client):
    seed = make_paper(
        title="Speculative decoding with a small draft model",
        abstract="Draft tokens verified by the large model: faster decoding.",
        arxiv_id="2505.01234",
        featured_on=DAY,
    )
    similar = make_paper(
        title="Faster LLM inference by drafting and verifying tokens",
        abstract="Acceleration of language model inference, learning to draft.",
        featured_on=DAY,
    )
    embed_papers(paper_ids=[seed.pk, similar.pk])
    reader = make_subscriber(keywords=["learning"])
    client.post(
        f"/preferences/{preferences_token(reader)}/",
        {
            "action": "save",
            "keywords": "learning",
            "liked_papers": "2505.01234",
            "frequency": "daily",
        },
    )
    assert Feedback.objects.filter(subscriber=reader, paper=seed).exists()
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    picked = list(Digest.objects.get(subscriber=reader).items.values_list("paper_id", flat=True))
    assert seed.pk not in picked  # they know it, in neither section: it was theirs to name
    assert similar.pk in picked


def test_a_run_sees_vectors_stored_after_it_first_read_the_papers():
    from subscriptions.delivery.digests import candidate_set_for

    paper = make_paper(title="Graph neural networks for molecules", abstract="x", featured_on=DAY)
    Paper.objects.filter(pk=paper.pk).update(embedding=None, embedding_key="")
    assert not candidate_set_for(day=DAY, frequency="daily").has_embedding.any()
    assert embed_papers(paper_ids=[paper.pk]) == 1  # a bulk update: updated_at stays
    assert candidate_set_for(day=DAY, frequency="daily").has_embedding.any()
