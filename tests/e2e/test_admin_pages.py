"""Editors' view, in a real browser: the paper list and a digest preview, screenshotted."""

import pytest
from django.contrib.auth import get_user_model

from papers.models import Topic
from tests.conftest import ARTIFACTS
from tests.e2e.test_browser import CHROMIUM_ARGS
from tests.factories import make_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_editor_sees_the_papers_and_previews_a_digest(live_server, seeded, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    get_user_model().objects.create_superuser("editor", "editor@example.org", "a-long-password")
    ada = make_subscriber(email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # Whatever the Content-Security-Policy blocks, Chromium reports on the console.
        refused = []
        page.on("console", lambda message: refused.append(message.text))
        page.goto(live_server.url + "/admin/login/")
        page.get_by_label("Username").fill("editor")
        page.get_by_label("Password").fill("a-long-password")
        page.get_by_role("button", name="Log in").click()

        page.goto(live_server.url + "/admin/papers/paper/")
        expect(page.locator(".paginator")).to_contain_text("82 papers")
        expect(
            page.get_by_role("link", name="Faceptor: A Generalist Model for Face Perception")
        ).to_be_visible()
        page.screenshot(path=ARTIFACTS / "admin-paper-list.png")

        page.goto(
            f"{live_server.url}/admin/subscriptions/subscriber/{ada.pk}/preview/?day=2025-11-06"
        )
        frame = page.frame_locator("iframe[title='HTML part']")
        expect(
            frame.get_by_text("Faceptor: A Generalist Model for Face Perception")
        ).to_be_visible()
        page.screenshot(path=ARTIFACTS / "admin-digest-preview.png", full_page=True)
        assert [text for text in refused if "Content Security Policy" in text] == []
        browser.close()
