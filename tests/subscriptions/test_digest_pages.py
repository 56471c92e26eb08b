import re
from datetime import date
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from papers.models import Paper, Topic
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Digest, Feedback
from tests.factories import make_subscriber
from tests.subscriptions.helpers import html_part, link_in

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


@pytest.fixture
def sent_digest(seeded):
    make_subscriber(email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=DAY, frequency="daily")
    [email] = mail.outbox
    return email


def without_tokens(html):
    # The links' signed tokens carry the second they were made in.
    return re.sub(r"/[\w-]+:[\w-]+:[\w-]+/", "/TOKEN/", html)


def test_view_in_browser_shows_the_same_digest(client, sent_digest):
    page = client.get(link_in(sent_digest, "/digest/view/"))
    assert page.status_code == 200
    assert "Faceptor: A Generalist Model for Face Perception" in page.content.decode()
    assert without_tokens(page.content.decode()) == without_tokens(html_part(sent_digest))


def test_more_like_this_asks_then_records(client, sent_digest):
    path = link_in(sent_digest, "/feedback/")
    page = client.get(path)
    assert "papers like this?" in page.content.decode()
    assert not Feedback.objects.exists()
    client.post(path)
    feedback = Feedback.objects.get()
    assert feedback.signal == 1
    assert feedback.subscriber.email == "ada@example.org"
    client.post(path)
    assert Feedback.objects.count() == 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?paper=abc&signal=more",
        "?paper=1&signal=maybe",
        "?paper=999999&signal=less",
        # Digits that are not ASCII: str.isdigit() says yes, int() refuses or reads them.
        "?paper=%C2%B2&signal=more",
        "?paper=%D9%A3&signal=more",
        "?paper=%EF%BC%91&signal=more",
        "?paper=+1&signal=more",
        "?paper=1%0A&signal=more",
        "?paper=99999999999999999999999&signal=more",
    ],
)
def test_a_feedback_link_with_a_bad_paper_or_signal_gets_a_404(client, sent_digest, query):
    token_path = link_in(sent_digest, "/feedback/").split("?")[0]
    assert client.get(f"{token_path}{query}").status_code == 404
    assert client.post(f"{token_path}{query}").status_code == 404
    assert not Feedback.objects.exists()


def test_a_feedback_link_to_a_hidden_paper_shows_nothing_of_it(client, sent_digest):
    path = link_in(sent_digest, "/feedback/")
    paper = Paper.objects.get(pk=int(re.search(r"paper=(\d+)", path)[1]))
    Paper.objects.filter(pk=paper.pk).update(hidden=True)
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 404
        assert paper.title not in response.content.decode()
    assert not Feedback.objects.exists()


def test_the_unsubscribe_link_of_a_digest_works(client, sent_digest):
    path = link_in(sent_digest, "/unsubscribe/")
    client.post(path)
    assert Digest.objects.get().subscriber.status == "unsubscribed"


@pytest.mark.parametrize("path", ["/digest/view/nonsense/", "/feedback/nonsense/"])
def test_bad_links_get_a_404(client, path):
    assert client.get(path).status_code == 404


def test_the_public_archive_of_a_day(client, seeded):
    page = client.get("/digest/2025-11-06/")
    assert page.status_code == 200
    assert page.content.decode().count('class="paper-title"') == 82
    assert client.get("/digest/2025-11-07/").status_code == 404
    assert client.get("/digest/not-a-day/").status_code == 404


def test_each_topic_has_a_feed(client, seeded):
    rss = client.get("/topics/face-analysis/rss/")
    assert rss.status_code == 200
    assert rss["Content-Type"].startswith("application/rss+xml")
    assert b"Faceptor: A Generalist Model for Face Perception" in rss.content
    atom = client.get("/topics/face-analysis/atom/")
    assert atom["Content-Type"].startswith("application/atom+xml")
    assert client.get("/topics/astrology/rss/").status_code == 404


def test_the_command_prints_counts_and_a_second_run_sends_nothing(seeded):
    make_subscriber(topics=[Topic.objects.get(slug="face-analysis")])
    make_subscriber(keywords=["quantum gravity"])

    def send(*args):
        out = StringIO()
        call_command("send_digests", "--date", "2025-11-06", *args, stdout=out)
        return out.getvalue()

    assert "would build 1, skip 1 with nothing new" in send("--dry-run")
    assert not Digest.objects.exists()
    assert "built 1, sent 1, skipped 1, failed 0" in send()
    assert "built 0, sent 0, skipped 0, failed 0" in send()
    assert len(mail.outbox) == 1
