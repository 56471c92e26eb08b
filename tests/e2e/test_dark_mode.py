"""The digest in a mail client that honours dark mode: headless Chromium, light and dark."""

import re
from datetime import date

import pytest
from django.core import mail

from papers.ingest import ingest_location
from papers.models import Topic
from subscriptions.delivery.runs import run_in_process
from tests.conftest import ARTIFACTS, FIXTURES
from tests.e2e.test_browser import CHROMIUM_ARGS
from tests.factories import make_subscriber
from tests.subscriptions.helpers import html_part

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LOOK = """() => {
  const style = (selector) => getComputedStyle(document.querySelector(selector));
  return {
    page: style('body').backgroundColor,
    card: style('.container').backgroundColor,
    text: style('.paper-meta + p').color,
    title: style('td + td a').color,
    muted: style('.footer').color,
  };
}"""


def luminance(css_colour: str) -> float:
    red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", css_colour)[:3])
    linear = [
        c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_digest_has_a_dark_palette_that_a_dark_client_applies(default_topics, chromium_path):
    from playwright.sync_api import sync_playwright

    ingest_location(location=str(FIXTURES / "hf-daily-papers.json"))
    make_subscriber(email="ada@example.org", topics=[Topic.objects.get(slug="model-merging")])
    run_in_process(day=date(2025, 11, 6), frequency="daily")
    [email] = mail.outbox
    html = html_part(email)
    assert "prefers-color-scheme: dark" in html.split("</head>")[0]

    looks, shots = {}, {}
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": 800, "height": 900}, color_scheme=scheme)
            page.set_content(html)
            looks[scheme] = page.evaluate(LOOK)
            shots[scheme] = page.screenshot(path=ARTIFACTS / f"digest-{scheme}.png")
            page.close()
        # On a phone the thumbnail goes above the text, not beside it.
        layouts = {}
        for width in (800, 390):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_content(html)
            layouts[width] = page.evaluate(
                """() => {
                  const image = document.querySelector('img').getBoundingClientRect();
                  const row = document.querySelector('img').closest('tr');
                  const title = row.querySelector('td + td a').getBoundingClientRect();
                  return title.top >= image.bottom ? 'above' : 'beside';
                }"""
            )
            page.close()
        browser.close()
    assert layouts == {800: "beside", 390: "above"}

    light, dark = looks["light"], looks["dark"]
    assert light["page"] == "rgb(246, 248, 250)" and light["card"] == "rgb(255, 255, 255)"
    assert dark["page"] == "rgb(13, 17, 23)" and dark["card"] == "rgb(22, 27, 34)"
    assert shots["light"] != shots["dark"]
    for look in (light, dark):  # readable in both: WCAG AA for text, 3:1 for the rest
        assert contrast(look["text"], look["card"]) >= 4.5, look
        assert contrast(look["title"], look["card"]) >= 4.5, look
        assert contrast(look["muted"], look["card"]) >= 3, look
