"""Sign-up limits: sliding logs in one store that every web process shares.

The store is Redis when ``REDIS_URL`` is set, the database otherwise; never a process's own
memory, where each gunicorn worker would keep a count of its own (two workers, twice the
limit). If Redis does not answer, the database counts meanwhile.

Each key keeps the times of the attempts it was allowed within the last window, and an
attempt is allowed while fewer than ``limit`` are there: at most ``limit`` in any window,
wherever it starts. A fixed window lets twice the limit through across its boundary, and
GCRA (one stored time, a burst of ``limit`` then a steady rate) up to ``2 * limit - 1`` in
some window of the same length. A log keeps at most ``limit`` times per key, which is
nothing for limits of tens an hour. Refused attempts are not logged, so someone who keeps
trying is let in again as soon as an allowed attempt leaves the window.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings
from django.db.models import F

from subscriptions.models import RateLimitBucket

logger = logging.getLogger(__name__)

SIGNUP_WINDOW_SECONDS = 3600

# IPv6 sites get a /64 (RFC 6177 leaves it to the ISP; a /64 is the smallest one gets), and
# every address in it is theirs to use: counting per /128 gives each visitor billions.
_IPV6_PREFIX = 64

# After Redis failed to answer, the database counts for this long before Redis is asked again.
_RETRY_REDIS_SECONDS = 5.0

# Trim the log to the window, count it, and log this attempt if there is room; on Redis'
# clock, so that every machine agrees on the window. Returns 1 if allowed, else 0.
_SLIDING_LOG = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""

_REDIS_PREFIX = "paper-digest:ratelimit:"

# A log written by others this many times while we tried is under attack: refuse.
_WRITE_ATTEMPTS = 10


def _digest(key: str) -> str:
    # Stores keep no IP address, only its hash.
    return hashlib.sha256(key.encode()).hexdigest()


class Limiter(Protocol):
    """Where attempts are counted."""

    def allow(self, *, scope: str, key: str, limit: int, window_seconds: int) -> bool:
        """Count one attempt for ``key``; False (and not counted) if ``limit`` attempts
        were already allowed within the last ``window_seconds``."""
        ...


class DatabaseLimiter:
    """The log of each key in a row of its own, written with a version check: two
    processes that read the same log never both take its last place."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock

    def allow(self, *, scope: str, key: str, limit: int, window_seconds: int) -> bool:
        now = self._clock() if self._clock else time.time()
        expires_at = datetime.fromtimestamp(now + window_seconds, tz=UTC)
        digest = _digest(key)
        RateLimitBucket.objects.filter(expires_at__lt=datetime.fromtimestamp(now, tz=UTC)).delete()
        for _ in range(_WRITE_ATTEMPTS):
            bucket, created = RateLimitBucket.objects.get_or_create(
                scope=scope, key=digest, defaults={"hits": [now], "expires_at": expires_at}
            )
            if created:
                return limit > 0
            hits = [hit for hit in bucket.hits if hit > now - window_seconds]
            if len(hits) >= limit:
                return False
            written = RateLimitBucket.objects.filter(pk=bucket.pk, version=bucket.version).update(
                hits=[*hits, now], version=F("version") + 1, expires_at=expires_at
            )
            if written:
                return True
            # Another process wrote this log meanwhile: read it again.
        logger.warning("rate limit %s: the log kept changing under us; refusing", scope)
        return False


class RedisLimiter:
    """The log of each key in a sorted set, trimmed, counted and added to in one script."""

    def __init__(self, url: str, *, fallback: Limiter | None = None) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(_SLIDING_LOG)
        self._fallback = fallback or DatabaseLimiter()
        self._unreachable_until = 0.0  # monotonic time: until then, not asked again

    def allow(self, *, scope: str, key: str, limit: int, window_seconds: int) -> bool:
        if time.monotonic() >= self._unreachable_until:
            redis_key = f"{_REDIS_PREFIX}{scope}:{_digest(key)[:32]}"
            attempt = secrets.token_hex(8)  # two attempts in one millisecond are two
            try:
                args: list[int | str] = [limit, window_seconds * 1000, attempt]
                return bool(self._script(keys=[redis_key], args=args))
            except redis.RedisError as error:
                logger.warning(
                    "rate limit %s: Redis unreachable (%s); counting in the database", scope, error
                )
                self._unreachable_until = time.monotonic() + _RETRY_REDIS_SECONDS
        return self._fallback.allow(
            scope=scope, key=key, limit=limit, window_seconds=window_seconds
        )


@lru_cache(maxsize=4)
def _limiter(redis_url: str) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else DatabaseLimiter()


def shared_limiter() -> Limiter:
    """The limiter every process shares: Redis when ``REDIS_URL`` is set, else the database."""
    return _limiter(settings.REDIS_URL)


def forget_limits() -> None:
    """Forget the limiters and what Redis counted (for tests, so that none inherits another's
    counts or a Redis outage; what the database counted goes with each test's transaction)."""
    _limiter.cache_clear()
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"{_REDIS_PREFIX}*"):
            client.delete(key)


def client_network(address: str) -> str:
    """What one visitor is counted by: an IPv4 address, or the /64 an IPv6 address is in
    (an IPv4 address written as IPv6, ``::ffff:a.b.c.d``, is that IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address  # not an address (a misconfigured proxy): counted as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
    return str(ip)


def allow(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt for ``key`` in the shared limiter; False once ``limit`` attempts
    were allowed within the last ``window_seconds``."""
    return shared_limiter().allow(scope=scope, key=key, limit=limit, window_seconds=window_seconds)


def signup_allowed(*, client_ip: str) -> bool:
    """Count one sign-up or resend from this visitor; False once they had
    ``SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR`` in the last hour (IPv6: from their /64)."""
    return allow(
        scope="subscribe-ip",
        key=client_network(client_ip),
        limit=settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR,
        window_seconds=SIGNUP_WINDOW_SECONDS,
    )


def preview_allowed(*, client_ip: str) -> bool:
    """Count one digest preview from this visitor; False once they had
    ``PREVIEWS_PER_IP_PER_HOUR`` in the last hour (each ranks and embeds what they typed)."""
    return allow(
        scope="preview-ip",
        key=client_network(client_ip),
        limit=settings.PREVIEWS_PER_IP_PER_HOUR,
        window_seconds=SIGNUP_WINDOW_SECONDS,
    )
