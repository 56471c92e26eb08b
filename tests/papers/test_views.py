import pytest

from papers.ingest import ingest_location
from tests.conftest import FIXTURES
from tests.factories import make_paper

pytestmark = pytest.mark.django_db


def test_the_home_page_lists_the_82_seed_papers(client, seeded):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "82 papers" in html
    assert html.count('class="paper-title"') == 82
    assert "Faceptor: A Generalist Model for Face Perception" in html
    assert "Nov. 6, 2025" in html


def test_it_escapes_html_from_listings(client):
    ingest_location(location=str(FIXTURES / "hf-daily-papers.json"))
    html = client.get("/").content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;upvote me&quot;)&lt;/script&gt;PAROAttention" in html


def test_it_leaves_out_hidden_papers(client):
    make_paper(title="Shown paper")
    make_paper(title="Hidden paper", hidden=True)
    html = client.get("/").content.decode()
    assert "Shown paper" in html
    assert "Hidden paper" not in html


def test_it_says_how_to_load_papers_when_there_are_none(client):
    assert "No papers yet" in client.get("/").content.decode()
