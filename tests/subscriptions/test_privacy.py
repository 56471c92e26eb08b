"""A reader's data: downloaded whole from their preferences link, or deleted whole."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from anymail.signals import AnymailTrackingEvent
from django.apps import apps
from django.db import models
from django.db.models import TextField
from django.db.models.functions import Cast
from django.urls import reverse

from subscriptions.models import (
    Digest,
    DigestClick,
    DigestItem,
    DigestOpen,
    Feedback,
    SavedPaper,
    Subscriber,
    WebhookEvent,
)
from subscriptions.people.bounces import record_tracking_event
from subscriptions.people.tokens import preferences_token
from tests.factories import make_paper, make_subscriber

pytestmark = pytest.mark.django_db

ADDRESS = "ada@example.org"


@pytest.fixture
def reader(default_topics):
    from papers.models import Topic

    ada = make_subscriber(
        email=ADDRESS, keywords=["LoRA"], topics=[Topic.objects.get(slug="face-analysis")]
    )
    paper = make_paper(arxiv_id="2511.00001", title="Merging models")
    digest = Digest.objects.create(
        subscriber=ada,
        period="2025-11-06",
        day=date(2025, 11, 6),
        frequency="daily",
        status=Digest.Status.SENT,
        sent_at=datetime(2025, 11, 6, 7, tzinfo=UTC),
        error=f"earlier try: 450 mailbox {ADDRESS} busy",
    )
    DigestItem.objects.create(
        digest=digest, subscriber=ada, paper=paper, section="for_you", position=1, reasons=["LoRA"]
    )
    Feedback.objects.create(subscriber=ada, paper=paper, signal=1)
    SavedPaper.objects.create(subscriber=ada, paper=paper)
    DigestOpen.objects.create(digest=digest, opened_at=datetime(2025, 11, 6, 8, tzinfo=UTC))
    DigestClick.objects.create(
        digest=digest, paper=paper, clicked_at=datetime(2025, 11, 6, 8, 1, tzinfo=UTC)
    )
    # The ESP reports a soft bounce for the address (typed in another case): a row names it.
    event = AnymailTrackingEvent(
        event_type="bounced",
        event_id="ev-1",
        recipient="Ada@Example.org",
        esp_event={"Type": "SoftBounce"},
    )
    record_tracking_event(event, "Postmark")
    return ada


@pytest.fixture
def someone_else():
    other = make_subscriber(email="grace@example.org")
    WebhookEvent.objects.create(event_id="ev-2", event_type="bounced", recipient=other.email)
    return other


def _rows_naming(address: str) -> list[str]:
    """Every row of every table whose text (or JSON) holds the address, whatever its case."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField):
                rows = model._default_manager.filter(**{f"{field.name}__icontains": address})
            elif isinstance(field, models.JSONField):
                rows = model._default_manager.annotate(_text=Cast(field.name, TextField()))
                rows = rows.filter(_text__icontains=address)
            else:
                continue
            found += [f"{model._meta.label}.{field.name}" for _ in rows]
    return found


def test_deleting_my_data_leaves_no_row_naming_the_address(
    client, admin_client, reader, someone_else
):
    # An editor acted on the reader: the admin log names them too.
    admin_client.post(
        reverse("admin:subscriptions_subscriber_changelist"),
        {"action": "suppress", "_selected_action": [reader.pk]},
    )
    assert _rows_naming(ADDRESS)  # the test can see them
    reader.refresh_from_db()  # suppressing gave them a new key: a link made now

    response = client.post(f"/preferences/{preferences_token(reader)}/delete/")
    assert "Your data is deleted" in response.content.decode()
    assert _rows_naming(ADDRESS) == []
    # A replay of the ESP's event is still recognised, and changes nothing.
    assert WebhookEvent.objects.filter(event_id="ev-1", recipient="").exists()
    # Nobody else's data went with it.
    assert Subscriber.objects.filter(pk=someone_else.pk).exists()
    assert not SavedPaper.objects.exists() and not DigestClick.objects.exists()
    assert WebhookEvent.objects.get(event_id="ev-2").recipient == someone_else.email


def test_the_preferences_page_offers_my_data_as_a_json_file(client, reader, someone_else):
    token = preferences_token(reader)
    page = client.get(f"/preferences/{token}/").content.decode()
    assert f'href="/preferences/{token}/my-data/"' in page

    response = client.get(f"/preferences/{token}/my-data/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["subscriber"]["email"] == ADDRESS
    assert data["subscriber"]["keywords"] == ["LoRA"]
    assert data["subscriber"]["topics"] == ["face-analysis"]
    assert "manage_key" not in data["subscriber"]
    [digest] = data["digests"]
    assert digest["day"] == "2025-11-06"
    assert digest["sent_at"].startswith("2025-11-06T07:00:00")
    assert [p["arxiv_id"] for p in digest["papers"]] == ["2511.00001"]
    paper_id = digest["papers"][0]["paper_id"]
    assert [(f["paper_id"], f["signal"]) for f in data["feedback"]] == [(paper_id, 1)]
    assert [e["type"] for e in data["email_events"]] == ["soft bounce"]
    assert [entry["paper_id"] for entry in data["saved_papers"]] == [paper_id]
    assert [entry["at"][:16] for entry in data["opens"]] == ["2025-11-06T08:00"]
    assert [(c["paper_id"], c["at"][:16]) for c in data["clicks"]] == [
        (paper_id, "2025-11-06T08:01")
    ]
    assert data["subscriber"]["tracking"] is True
    assert someone_else.email not in response.content.decode()


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_my_data_is_only_read(client, reader, method):
    response = getattr(client, method)(f"/preferences/{preferences_token(reader)}/my-data/")
    assert response.status_code == 405


def test_my_data_needs_the_readers_own_link(client, reader, someone_else):
    assert client.get("/preferences/nonsense/my-data/").status_code == 404
    other = client.get(f"/preferences/{preferences_token(someone_else)}/my-data/")
    assert ADDRESS not in other.content.decode()
