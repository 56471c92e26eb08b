"""Request bodies over the limit refused; a malformed ESP webhook body a 400, not a 500; the
Permissions-Policy header."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

logger = logging.getLogger(__name__)

# What anymail's parsers raise on a body that is not the ESP's format (bad JSON, wrong shape).
_MALFORMED = (ValueError, TypeError, KeyError, AttributeError)


class RequestBodyLimitMiddleware:
    """A request whose body is larger than ``MAX_REQUEST_BODY_BYTES`` gets a 413 before any
    of it is read (nothing is parsed, spooled to disk or handed to a view)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = _content_length(request)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            logger.warning("refused a %s-byte body at %s", length, request.path)
            return HttpResponse(
                "Request body too large.", status=413, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


def _content_length(request: HttpRequest) -> int:
    # As Django's WSGIRequest reads it: a missing or malformed length is no body at all.
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


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
