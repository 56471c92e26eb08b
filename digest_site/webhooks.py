"""Which of anymail's webhook URLs the site mounts: the tracking webhook of our ESP only.

anymail.urls mounts every ESP's inbound and tracking views. An ESP we do not use has no
credentials configured, so its view answered an unauthenticated POST with a 500; we receive
no inbound mail at all.
"""

from __future__ import annotations

from anymail import urls as anymail_urls
from django.urls import URLPattern

APP_NAME = anymail_urls.app_name


def tracking_webhook_urls(esp: str) -> list[URLPattern]:
    """anymail's URL patterns for ``esp``'s tracking events (bounces, complaints, deliveries);
    empty when anymail has none for it. Mandrill's one webhook carries both kinds of event."""
    names = {f"{esp}_tracking_webhook", f"{esp}_webhook"}
    return [
        pattern
        for pattern in anymail_urls.urlpatterns
        if isinstance(pattern, URLPattern) and pattern.name in names
    ]
