"""Fixed-window rate limits on the Django cache (Redis when configured)."""

from __future__ import annotations

import hashlib
import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def allow(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt for ``key``; False once more than ``limit`` fall in the window.

    If the cache is down the attempt is allowed: losing sign-ups to an outage is worse
    than letting a few extra through.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    window = int(time.time() // window_seconds)
    cache_key = f"ratelimit:{scope}:{digest}:{window}"
    try:
        cache.add(cache_key, 0, timeout=window_seconds)
        count = cache.incr(cache_key)
    except Exception:
        logger.exception("rate limit %s: cache unavailable, allowing", scope)
        return True
    return count <= limit
