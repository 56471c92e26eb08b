"""The admin's pages cost the same whatever the size of the tables behind them."""

from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from subscriptions.admin.common import INLINE_LIMIT
from subscriptions.models import Digest, DigestItem, Feedback
from tests.factories import make_paper, make_subscriber

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


def get(admin_client, url, *, warm=False):
    if warm:  # the first change page of a process reads the content types once
        admin_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200, url
    return len(queries), response.content.decode()


def digest_with(paper, *, subscriber=None, day=DAY, status="sent"):
    subscriber = subscriber or make_subscriber()
    digest = Digest.objects.create(
        subscriber=subscriber,
        period=day.isoformat(),
        day=day,
        frequency="daily",
        status=status,
        esp_message_id=f"msg-{subscriber.pk}-{day}",
    )
    DigestItem.objects.create(
        digest=digest, subscriber=subscriber, paper=paper, section="for_you", position=1
    )
    return digest


def test_a_paper_page_shows_the_latest_digests_that_included_it_and_links_to_all(admin_client):
    paper = make_paper()
    url = reverse("admin:papers_paper_change", args=[paper.pk])
    for _ in range(3):
        digest_with(paper)
    few, _ = get(admin_client, url, warm=True)
    readers = [digest_with(paper).subscriber for _ in range(27)]

    many, html = get(admin_client, url)

    assert many == few
    shown = [reader for reader in readers if reader.email in html]
    assert len(shown) == INLINE_LIMIT  # the newest 20 of 30
    assert readers[-1] in shown
    assert f"/admin/subscriptions/digest/?paper={paper.pk}" in html
    _, listing = get(
        admin_client, reverse("admin:subscriptions_digest_changelist") + f"?paper={paper.pk}"
    )
    assert all(reader.email in listing for reader in readers)


def test_a_subscriber_page_shows_their_latest_digests_and_feedback_and_links_to_all(
    admin_client,
):
    ada = make_subscriber(email="ada@example.org")
    url = reverse("admin:subscriptions_subscriber_change", args=[ada.pk])

    def add(days):
        for offset in days:
            day = DAY + timedelta(days=offset)
            paper = make_paper(title=f"Paper of day {offset}")
            digest_with(paper, subscriber=ada, day=day)
            Feedback.objects.create(subscriber=ada, paper=paper, signal=1)

    add(range(3))
    few, _ = get(admin_client, url, warm=True)
    add(range(3, 30))

    many, html = get(admin_client, url)

    assert many == few
    assert html.count("/preview/") - 1 == INLINE_LIMIT  # each digest row links its preview
    assert (DAY + timedelta(days=29)).isoformat() in html  # the newest
    assert (DAY + timedelta(days=9)).isoformat() not in html  # the 21st newest
    assert f"/admin/subscriptions/digest/?subscriber__id__exact={ada.pk}" in html
    assert f"/admin/subscriptions/feedback/?subscriber__id__exact={ada.pk}" in html
    _, digests = get(
        admin_client,
        reverse("admin:subscriptions_digest_changelist") + f"?subscriber__id__exact={ada.pk}",
    )
    assert "30 digests" in digests


def test_a_digest_page_costs_the_same_however_many_digests_there_are(admin_client):
    paper = make_paper()
    digest = digest_with(paper)
    url = reverse("admin:subscriptions_digest_change", args=[digest.pk])
    for _ in range(2):
        digest_with(paper)
    few, _ = get(admin_client, url, warm=True)
    for _ in range(27):
        digest_with(paper)
    many, _ = get(admin_client, url)
    assert many == few


def test_the_feedback_lists_and_form_do_not_read_every_subscriber_and_paper(admin_client):
    def add(count):
        for _ in range(count):
            Feedback.objects.create(subscriber=make_subscriber(), paper=make_paper(), signal=-1)

    add(3)
    few, _ = get(admin_client, reverse("admin:subscriptions_feedback_changelist"))
    add(27)
    many, _ = get(admin_client, reverse("admin:subscriptions_feedback_changelist"))
    assert many == few

    _, form = get(admin_client, reverse("admin:subscriptions_feedback_add"))
    assert 'name="subscriber"' in form and "vForeignKeyRawIdAdminField" in form
    # Only the signal's choices: no list of every subscriber and paper.
    assert form.count("<option") == 3
    assert Feedback.objects.first().subscriber.email not in form


def test_searches_find_an_address_by_its_start_and_a_digest_by_its_id(admin_client):
    paper = make_paper()
    ada = make_subscriber(email="Ada.Lovelace@example.org")
    grace = make_subscriber(email="grace@example.org")
    mine = digest_with(paper, subscriber=ada)
    digest_with(paper, subscriber=grace)
    subscribers = reverse("admin:subscriptions_subscriber_changelist")
    digests = reverse("admin:subscriptions_digest_changelist")

    _, found = get(admin_client, subscribers + "?q=ada.LOVE")
    assert "Ada.Lovelace@example.org" in found and "grace@" not in found
    _, found = get(admin_client, subscribers + "?q=lovelace")  # not a start: no scan for it
    assert "Ada.Lovelace@example.org" not in found

    _, found = get(admin_client, digests + "?q=ada.lovelace@example.org")
    assert "Ada.Lovelace@example.org" in found and "grace@" not in found
    _, found = get(admin_client, digests + f"?q={mine.pk}")
    assert "Ada.Lovelace@example.org" in found and "grace@" not in found


def test_a_list_counts_at_most_its_limit(admin_client, monkeypatch):
    monkeypatch.setattr("subscriptions.admin.common.COUNT_LIMIT", 5)
    paper = make_paper()
    for _ in range(8):
        digest_with(paper)
    _, html = get(admin_client, reverse("admin:subscriptions_digest_changelist"))
    assert "5 digests" in html


class _FormFields(HTMLParser):
    """The values a browser would post for the page's form (inputs, selects, textareas)."""

    def __init__(self):
        super().__init__()
        self.data = {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "checkbox"):
            self.data.setdefault(name, attrs.get("value") or "")
        elif tag == "input" and name and "checked" in attrs:
            self.data[name] = attrs.get("value") or "on"
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [] if "multiple" in attrs else "")
        elif tag == "option" and self._select and "selected" in attrs:
            if isinstance(self.data[self._select], list):
                self.data[self._select].append(attrs.get("value"))
            else:
                self.data[self._select] = attrs.get("value")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def test_a_subscriber_with_more_digests_than_shown_can_still_be_saved(admin_client):
    ada = make_subscriber(email="ada@example.org")
    for offset in range(25):
        digest_with(make_paper(), subscriber=ada, day=DAY + timedelta(days=offset))
    url = reverse("admin:subscriptions_subscriber_change", args=[ada.pk])
    fields = _FormFields()
    fields.feed(admin_client.get(url).content.decode())
    assert fields.data["digests-INITIAL_FORMS"] == str(INLINE_LIMIT)

    response = admin_client.post(url, {**fields.data, "email": "ada.lovelace@example.org"})

    assert response.status_code == 302, response.content.decode()[:2000]
    ada.refresh_from_db()
    assert ada.email == "ada.lovelace@example.org"
    assert Digest.objects.filter(subscriber=ada).count() == 25
