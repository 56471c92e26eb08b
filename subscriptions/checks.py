"""Deployment checks (``manage.py check --deploy``) for what a wrong setting would put in emails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Tags, Warning, register

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@register(Tags.security, deploy=True)
def check_site_url(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Warning]:
    """Every link in every email starts with SITE_URL: it must be the public address."""
    url = urlsplit(settings.SITE_URL)
    if url.hostname in LOCAL_HOSTS or not url.hostname:
        return [
            Warning(
                f"SITE_URL is {settings.SITE_URL!r}: every link in every email (confirm, "
                "preferences, unsubscribe) would point there.",
                hint="Set SITE_URL to the site's public address, e.g. https://digest.example.org",
                id="subscriptions.W001",
            )
        ]
    if settings.HTTPS and url.scheme != "https":
        return [
            Warning(
                f"SITE_URL is {settings.SITE_URL!r} while HTTPS is on: the links in emails "
                "would go through a redirect, and List-Unsubscribe must be HTTPS.",
                hint="Start SITE_URL with https://",
                id="subscriptions.W002",
            )
        ]
    return []
