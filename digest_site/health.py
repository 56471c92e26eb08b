"""/healthz: is the service able to do its job? 200 when every check passes, else 503."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from papers.models import IngestRun
from subscriptions.models import DigestRun


def _database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return f"database unreachable: {error.__class__.__name__}"
    return None


def _broker() -> str | None:
    if not settings.BROKER_URL:
        return None  # tasks run in-process: there is no broker to reach
    try:
        with Connection(settings.BROKER_URL, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:
        return f"broker unreachable: {error.__class__.__name__}"
    return None


def _fresh(latest: datetime | None, hours: int, what: str) -> str | None:
    if latest is None:
        return f"no {what} yet"
    if timezone.now() - latest > timedelta(hours=hours):
        return f"last {what} at {latest:%Y-%m-%d %H:%M} UTC is older than {hours} h"
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachable, last ingest and last digest run recent enough."""
    problems = {"database": _database(), "broker": _broker()}
    if problems["database"] is None:
        last_ingest = (
            IngestRun.objects.filter(status=IngestRun.Status.SUCCEEDED)
            .order_by("-started_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        last_digest = (
            DigestRun.objects.order_by("-started_at").values_list("started_at", flat=True).first()
        )
        problems["ingest"] = _fresh(last_ingest, settings.HEALTH_MAX_INGEST_AGE_HOURS, "ingest")
        problems["digests"] = _fresh(
            last_digest, settings.HEALTH_MAX_DIGEST_AGE_HOURS, "digest run"
        )
    failing = {name: problem for name, problem in problems.items() if problem}
    body = {"status": "ok" if not failing else "failing", "problems": failing}
    return JsonResponse(body, status=200 if not failing else 503)
