"""Clicks through the digest's redirect and opens from the ESP's events: counted once,
shown to editors per day and topic, and not at all for a reader who turned tracking off."""

import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup

from papers.ingest import ingest_location
from papers.models import Paper, Topic
from subscriptions.delivery.engagement import engagement_by_day, engagement_by_topic
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Digest, DigestClick, DigestOpen
from subscriptions.people.preferences import set_tracking
from subscriptions.people.tokens import click_token, verify_click_token
from tests.conftest import FIXTURES
from tests.factories import make_subscriber
from tests.subscriptions.helpers import html_part, only_email_to
from tests.subscriptions.test_webhooks import auth, post, webhook_secret  # noqa: F401

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


@pytest.fixture
def readers(default_topics):
    ingest_location(location=str(FIXTURES / "hf-daily-papers.json"))
    merging = Topic.objects.get(slug="model-merging")
    vision = Topic.objects.get(slug="multimodal-vision-language")
    return [
        make_subscriber(email="ada@example.org", topics=[merging]),
        make_subscriber(email="grace@example.org", topics=[merging, vision]),
        make_subscriber(email="alan@example.org", topics=[vision]),
    ]


def title_links(email):
    """The links of the papers' titles (to the redirect, or straight to the paper)."""
    soup = BeautifulSoup(html_part(email), "html.parser")
    return [a["href"] for a in soup("a") if re.search(r"/r/[^/]+/$|/papers/\d+/$", a["href"])]


def sent(readers):
    run_in_process(day=DAY, frequency="daily")
    return {reader.email: only_email_to(reader.email) for reader in readers}


def path_of(url):
    return re.sub(r"^https?://[^/]+", "", url)


def test_a_click_through_the_redirect_is_recorded_once_and_forwards_to_the_paper(client, readers):
    email = sent(readers)["ada@example.org"]
    links = title_links(email)
    assert links and all("/r/" in link for link in links)
    assert all(f"/r/{link.split('/r/')[1]}" in email.body for link in links)  # text part too
    digest = Digest.objects.get(subscriber=readers[0])
    first = path_of(links[0])
    paper_id = int(first.split("/r/")[1].split("-")[1])
    assert client.head(first).status_code == 302  # a link checker's HEAD counts nothing
    assert not DigestClick.objects.exists()
    for _ in range(3):
        response = client.get(first)
        assert response.status_code == 302
        assert response["Location"] == f"/papers/{paper_id}/"
    [click] = DigestClick.objects.all()
    assert (click.digest, click.paper_id) == (digest, paper_id)
    # A paper link is one people share: whoever follows it is not taken for the reader (no
    # Save in their name, no way on to the reading list or the preferences).
    assert "Save for later" not in client.get(f"/papers/{paper_id}/").content.decode()


def test_a_click_token_names_its_paper_and_cannot_send_anyone_elsewhere(client, readers):
    email = sent(readers)["ada@example.org"]
    digest = Digest.objects.get(subscriber=readers[0])
    token = path_of(title_links(email)[0]).split("/r/")[1].strip("/")
    digest_id, paper_id, signature = token.split("-", 2)
    other = Paper.objects.exclude(pk=paper_id).first()
    for bad in (
        f"{digest_id}-{other.pk}-{signature}",  # another paper, the same signature
        f"{digest_id}-{paper_id}-{signature[:-1]}{'1' if signature.endswith('0') else '0'}",
        f"{digest_id}-{paper_id}-{signature[:-2]}",
        f"{digest_id}-{paper_id}",
        "https:--evil.example-1",
    ):
        assert client.get(f"/r/{bad}/").status_code == 404, bad
    assert client.get(f"/r/{token}/?next=https://evil.example/")["Location"].startswith("/papers/")
    assert not DigestClick.objects.exclude(digest=digest, paper_id=paper_id).exists()


def test_every_click_token_verifies_whatever_its_signature_holds():
    tokens = [click_token(digest_id=d, paper_id=p) for d in range(1, 41) for p in range(1, 26)]
    assert len(set(tokens)) == len(tokens)
    assert [verify_click_token(t) for t in tokens] == [
        (d, p) for d in range(1, 41) for p in range(1, 26)
    ]


def test_tracking_off_gives_direct_links_and_no_open_tracking(client, readers):
    set_tracking(readers[0], on=False)
    emails = sent(readers)
    off, on = emails["ada@example.org"], emails["grace@example.org"]
    links = title_links(off)
    assert links and all(re.search(r"/papers/\d+/$", link) for link in links)
    assert "/r/" not in html_part(off) and "/r/" not in off.body
    assert off.track_opens is False and on.track_opens is True
    assert on.track_clicks is False and off.track_clicks is False  # our redirect counts clicks
    # A redirect link from an older digest still forwards, and counts nothing.
    digest = Digest.objects.get(subscriber=readers[0])
    paper = Paper.objects.first()
    old = click_token(digest_id=digest.pk, paper_id=paper.pk)
    assert client.get(f"/r/{old}/").status_code == 302
    assert not DigestClick.objects.exists()


def test_the_preferences_page_turns_tracking_off_and_on(client, readers):
    email = sent(readers)["ada@example.org"]
    preferences = re.search(r"https?://[^/\s]+(/preferences/\S+)", email.body)[1]
    assert "Turn off open and click tracking" in client.get(preferences).content.decode()
    client.post(preferences, {"action": "tracking_off"})
    readers[0].refresh_from_db()
    assert readers[0].tracking is False
    assert "Turn on open and click tracking" in client.get(preferences).content.decode()


def opened(email, digest_id, event_id):
    return json.dumps(
        {
            "RecordType": "Open",
            "ID": event_id,
            "FirstOpen": True,
            "Recipient": email,
            "MessageID": f"00000000-0000-0000-0000-{digest_id:012d}",
            "ReceivedAt": "2025-11-06T09:00:00Z",
            "Metadata": {"digest_id": str(digest_id)},
        }
    )


def test_the_admin_engagement_numbers_equal_the_events_received(client, admin_client, readers):
    sent(readers)
    ada, grace, alan = (Digest.objects.get(subscriber=r) for r in readers)
    # Opens: ada's digest twice (a second open is no second opened digest), grace's once,
    # alan's none; an open for an unknown digest counts nothing.
    for event_id, (email, digest) in enumerate(
        [("ada@example.org", ada), ("ada@example.org", ada), ("grace@example.org", grace)]
    ):
        assert post(client, opened(email, digest.pk, event_id), **auth()).status_code == 200
    post(client, opened("nobody@example.org", 999999, 99), **auth())
    # Clicks: two papers from ada's digest (one twice), one from alan's.
    clicks = [(ada, 0), (ada, 0), (ada, 1), (alan, 0)]
    followed = set()
    for digest, index in clicks:
        paper_id = digest.items.order_by("section", "position")[index].paper_id
        client.get(f"/r/{click_token(digest_id=digest.pk, paper_id=paper_id)}/")
        followed.add((digest.pk, paper_id))
    expected = Counter(Paper.objects.get(pk=paper_id).title for _, paper_id in followed)

    [today] = engagement_by_day(today=DAY + timedelta(days=3))
    assert engagement_by_day(today=DAY + timedelta(days=30)) == []  # outside the window
    assert (today.sent, today.opened, today.clicked, today.clicks) == (3, 2, 2, 3)
    assert DigestOpen.objects.count() == 2
    topics = {row.label: row for row in engagement_by_topic(day=DAY)}
    merging, vision = topics["Model merging"], topics["Multimodal and vision-language models"]
    assert (merging.sent, merging.opened, merging.clicked, merging.clicks) == (2, 2, 1, 2)
    assert (vision.sent, vision.opened, vision.clicked, vision.clicks) == (2, 1, 1, 1)

    with time_machine.travel(datetime(2025, 11, 7, 12, tzinfo=UTC), tick=False):
        page = admin_client.get("/admin/subscriptions/digest/engagement/")
    soup = BeautifulSoup(page.content, "html.parser")
    [day_row] = soup.select("#engagement-days tbody tr")
    assert [td.get_text(strip=True) for td in day_row("td")] == ["2025-11-06", "3", "2", "2", "3"]
    most = {
        row("td")[0].get_text(strip=True): int(row("td")[1].get_text(strip=True))
        for row in soup.select("#engagement-papers tbody tr")
    }
    assert most == expected and sum(most.values()) == 3
