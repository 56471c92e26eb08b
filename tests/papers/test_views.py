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
    assert "Thursday, November 6, 2025" in html
    assert "Get trending papers in your email inbox!" in html


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


def test_it_moves_between_days(client):
    from datetime import date

    make_paper(title="Day one paper", featured_on=date(2025, 11, 5))
    make_paper(title="Day two paper", featured_on=date(2025, 11, 6))
    make_paper(title="Day four paper", featured_on=date(2025, 11, 8))
    html = client.get("/?day=2025-11-06").content.decode()
    assert "Day two paper" in html and "Day one paper" not in html
    assert '?day=2025-11-05" rel="prev"' in html
    assert '?day=2025-11-08" rel="next"' in html
    latest = client.get("/").content.decode()
    assert "Day four paper" in latest and 'rel="next"' not in latest


def test_it_filters_by_topic(client, seeded):
    html = client.get("/?topic=face-analysis").content.decode()
    assert "Faceptor: A Generalist Model for Face Perception" in html
    assert "SE-MoE" not in html


def test_it_searches_titles_and_abstracts(client, seeded):
    html = client.get("/?q=click-through").content.decode()
    assert "Optimizing Feature Set for Click-Through Rate Prediction" in html
    assert "Faceptor" not in html
    by_abstract = client.get("/?q=PaddlePaddle").content.decode()
    assert "SE-MoE" in by_abstract
    assert "No paper matches" in client.get("/?q=zzzyzzy").content.decode()


def test_a_paper_has_its_own_page(client):
    paper = make_paper(
        title="A paper",
        abstract="The abstract in full.",
        arxiv_id="2511.00001",
        arxiv_url="https://arxiv.org/abs/2511.00001",
        pdf_url="https://arxiv.org/pdf/2511.00001",
        github_url="https://github.com/x/y",
        authors=["Ada Lovelace", "Alan Turing"],
    )
    html = client.get(f"/papers/{paper.pk}/").content.decode()
    assert "The abstract in full." in html
    assert "Ada Lovelace, Alan Turing" in html
    assert 'href="https://arxiv.org/pdf/2511.00001"' in html
    assert 'href="https://github.com/x/y"' in html


@pytest.mark.parametrize(
    "path", ["/?day=2025-13-45", "/?day=yesterday", "/?topic=astrology", "/papers/999999/"]
)
def test_bad_addresses_get_a_404(client, path):
    assert client.get(path).status_code == 404


def test_a_hidden_paper_has_no_page(client):
    paper = make_paper(hidden=True)
    assert client.get(f"/papers/{paper.pk}/").status_code == 404


def test_the_daily_list_is_rendered_once_per_cache_period(
    client, seeded, django_assert_num_queries
):
    first = client.get("/")
    with django_assert_num_queries(0):
        again = client.get("/")
    assert again.content == first.content
    # Another address (a filter, a day) is its own page.
    assert "Faceptor" in client.get("/?topic=face-analysis").content.decode()


def test_it_never_shows_a_flash_message_to_another_visitor(seeded):
    from django.test import Client

    from subscriptions.people.tokens import preferences_token
    from tests.factories import make_subscriber

    token = preferences_token(make_subscriber())
    a, b = Client(), Client()
    a.post(f"/preferences/{token}/", {"action": "pause"})  # leaves "Paused." to be shown
    assert "Paused." in a.get("/").content.decode()
    assert "Paused." not in b.get("/").content.decode()
    assert "Paused." not in a.get("/").content.decode()  # shown once, as messages are
