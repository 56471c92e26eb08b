"""Turning a malformed ESP webhook body into a 400 instead of a 500; the Permissions-Policy."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

logger = logging.getLogger(__name__)

# What anymail's parsers raise on a body that is not the ESP's format (bad JSON, wrong shape).
_MALFORMED = (ValueError, TypeError, KeyError, AttributeError)


class MalformedWebhookMiddleware:
    """Under /anymail/, a body anymail cannot parse is the sender's error: answer 400.

    Only after anymail has checked the credentials; nothing is changed by such a call.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/anymail/") and isinstance(exception, _MALFORMED):
            logger.warning("malformed webhook body at %s: %r", request.path, exception)
            return HttpResponseBadRequest("Malformed webhook body.")
        return None


class PermissionsPolicyMiddleware:
    """Every response says which browser features it may use: ``PERMISSIONS_POLICY``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
