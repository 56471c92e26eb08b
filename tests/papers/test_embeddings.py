"""Sentence embeddings: the model shipped in a package, loaded offline and checked."""

import socket

import numpy as np
import pytest

from papers import embeddings
from papers.embeddings import (
    EmbeddingModelError,
    embed_papers,
    embed_texts,
    embedder_available,
    forget_embedded_texts,
    forget_model,
    phrase_vectors,
    store_phrases,
)
from papers.ingest import ingest_location
from papers.models import Paper, TextEmbedding
from tests.conftest import FIXTURES
from tests.factories import make_paper


@pytest.fixture
def fresh_model():
    forget_model()
    forget_embedded_texts()
    yield
    forget_model()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the embedding model tried to reach the network")

    # Its own context, undone when the test ends: the suite's teardowns that follow (a Redis
    # flush on the real-services run) are not the model's and may connect.
    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        yield


def test_the_offline_model_loads_without_network_and_embeds_meaning(fresh_model, no_network):
    [rain, nowcasting, proteins] = embed_texts(
        [
            "predicting rain and storms with neural nets",
            "Deep generative models for precipitation nowcasting from radar",
            "Protein structure prediction with diffusion models",
        ]
    )
    assert rain.shape == (embeddings.DIMENSIONS,)
    assert np.isclose(np.linalg.norm(rain), 1.0, atol=1e-5)
    assert rain @ nowcasting > rain @ proteins + 0.2


def test_a_model_file_that_is_not_the_pinned_one_is_refused(fresh_model, settings, tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    settings.EMBEDDINGS = {**settings.EMBEDDINGS, "MODEL_PATH": str(fake), "MODEL_SHA256": "0" * 64}
    with pytest.raises(EmbeddingModelError, match="sha256"):
        embed_texts(["anything"])
    # Ranking then stays lexical rather than failing.
    assert not embedder_available()


@pytest.mark.django_db
def test_ingest_embeds_each_paper_once(django_assert_max_num_queries):
    ingest_location(location=str(FIXTURES / "arxiv-api-query-testing-10.atom.xml"))
    papers = list(Paper.objects.all())
    assert papers
    assert all(paper.embedding is not None and paper.embedding_key for paper in papers)
    # Safe to run twice: nothing is embedded again.
    assert embed_papers(paper_ids=[paper.pk for paper in papers]) == 0


@pytest.mark.django_db
def test_a_changed_abstract_is_embedded_anew():
    paper = make_paper(title="Speculative decoding", abstract="Drafts verified by a big model.")
    assert embed_papers(paper_ids=[paper.pk]) == 1
    Paper.objects.filter(pk=paper.pk).update(abstract="Something else entirely.")
    assert embed_papers(paper_ids=[paper.pk]) == 1
    assert embed_papers(paper_ids=[paper.pk]) == 0


@pytest.mark.django_db
def test_interests_are_stored_once_and_read_back():
    assert store_phrases(["Machine Unlearning", "machine unlearning", "text-to-SQL"]) == 2
    assert store_phrases(["text-to-sql"]) == 0
    assert TextEmbedding.objects.count() == 2
    [stored] = phrase_vectors(["machine unlearning"], embed_missing=False)
    [made] = embed_texts(["machine unlearning"])
    assert float(stored @ made) > 0.999  # float16 on disk


@pytest.mark.django_db
def test_the_embed_papers_command_gives_a_vector_to_each_paper_without_one():
    from io import StringIO

    from django.core.management import call_command

    paper = make_paper(title="Graph neural networks for molecules", abstract="On graphs.")
    Paper.objects.filter(pk=paper.pk).update(embedding=None, embedding_key="")
    out = StringIO()
    call_command("embed_papers", stdout=out)
    assert out.getvalue().strip() == "embedded 1 papers"
    assert Paper.objects.get(pk=paper.pk).embedding
    out = StringIO()
    call_command("embed_papers", stdout=out)
    assert out.getvalue().strip() == "every paper has its vector"
