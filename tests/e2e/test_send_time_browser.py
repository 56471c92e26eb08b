"""The sign-up form's time zone, pre-selected from the browser's own, in a real browser."""

import pytest

from subscriptions.models import Subscriber
from tests.e2e.test_browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sign_up_form_takes_the_browsers_time_zone(live_server, default_topics, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        tokyo = browser.new_context(timezone_id="Asia/Tokyo")
        page = tokyo.new_page()
        page.goto(f"{live_server.url}/subscribe/")
        expect(page.locator("#id_time_zone")).to_have_value("Asia/Tokyo")
        page.get_by_label("Email address").fill("kenji@example.org")
        page.get_by_label("Keywords").fill("diffusion")
        page.select_option("#id_send_hour", "8")
        page.get_by_role("button", name="Subscribe").click()
        expect(page).to_have_url(f"{live_server.url}/subscribe/check-inbox/")
        # Without JavaScript the select keeps its default and the form works the same.
        plain = browser.new_context(timezone_id="Asia/Tokyo", java_script_enabled=False)
        page = plain.new_page()
        page.goto(f"{live_server.url}/subscribe/")
        expect(page.locator("#id_time_zone")).to_have_value("UTC")
        browser.close()
    # The sign-up's interests and send time were applied when its confirmation was sent.
    kenji = Subscriber.objects.get(email="kenji@example.org")
    assert (kenji.send_hour, kenji.time_zone, kenji.keywords) == (8, "Asia/Tokyo", ["diffusion"])
