"""Content-Security-Policy and Permissions-Policy on every page, and pages that keep to them."""

from datetime import date
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.urls import reverse

from papers.models import Paper, Topic
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Digest
from tests.factories import make_subscriber
from tests.subscriptions.helpers import link_in

pytestmark = pytest.mark.django_db


def policy(response):
    """The response's Content-Security-Policy as {directive: [sources]}."""
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


class _InlineCode(HTMLParser):
    """What a strict policy blocks: inline scripts, <style>, style="..." and on...= handlers."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name == "style"]
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on")]
        self.found += [
            f"{tag} {name}=javascript:"
            for name, value in attrs
            if name in ("href", "src", "action") and (value or "").startswith("javascript:")
        ]


def inline_code(response):
    parser = _InlineCode()
    parser.feed(response.content.decode())
    return parser.found


def assert_strict(response):
    directives = policy(response)
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert "camera=()" in response["Permissions-Policy"]
    assert "geolocation=()" in response["Permissions-Policy"]


def test_the_sites_pages_have_a_strict_policy_and_nothing_inline_it_would_block(client, seeded):
    paper = Paper.objects.first()
    for path in [
        "/",
        "/?topic=face-analysis",
        "/subscribe/",
        "/subscribe/check-inbox/",
        f"/papers/{paper.pk}/",
        "/digest/2025-11-06/",
        "/feedback/nonsense/",
        "/preferences/new-link/",
        "/preferences/new-link/sent/",
        "/test-email-link/",
        "/topics/face-analysis/rss/",
        "/admin/login/",
    ]:
        response = client.get(path)
        assert response.status_code == 200 or path.startswith("/feedback/"), path
        assert_strict(response)
        assert inline_code(response) == [], path


def test_a_readers_pages_have_a_strict_policy(client, seeded):
    make_subscriber(email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=date(2025, 11, 6), frequency="daily")
    [email] = mail.outbox
    for path in [
        link_in(email, "/preferences/"),
        link_in(email, "/unsubscribe/"),
        link_in(email, "/feedback/"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(response)
        assert inline_code(response) == [], path


def test_the_admins_pages_have_a_strict_policy_and_nothing_inline(admin_client, seeded):
    ada = make_subscriber(email="ada@example.org")
    paper = Paper.objects.first()
    for path in [
        "/admin/",
        reverse("admin:papers_paper_changelist"),
        reverse("admin:papers_paper_change", args=[paper.pk]),
        reverse("admin:papers_topic_changelist"),
        reverse("admin:subscriptions_subscriber_changelist"),
        reverse("admin:subscriptions_subscriber_change", args=[ada.pk]),
        reverse("admin:subscriptions_digest_summary"),
        reverse("admin:axes_accessattempt_changelist"),
    ]:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert_strict(response)
        assert inline_code(response) == [], path


def test_pages_that_show_an_emails_html_allow_its_inline_styles_only(admin_client, seeded):
    ada = make_subscriber(email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=date(2025, 11, 6), frequency="daily")
    [email] = mail.outbox
    digest = Digest.objects.get()
    for response in [
        admin_client.get(link_in(email, "/digest/view/")),
        admin_client.get(reverse("admin:subscriptions_subscriber_preview", args=[ada.pk])),
        admin_client.get(reverse("admin:subscriptions_digest_preview", args=[digest.pk])),
    ]:
        assert response.status_code == 200
        directives = policy(response)
        assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
        assert directives["script-src"] == ["'self'"]
        assert directives["default-src"] == ["'none'"]
