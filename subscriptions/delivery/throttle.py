"""One send rate for every worker together, and one pause for all when the ESP says "slow down".

ESPs cap an account, not a process: Amazon SES has a per-second quota, others answer 429.
So the rate (``DIGEST_SEND_RATE_PER_SECOND``) is held in one place that every worker process
and machine shares, Redis when it is configured, and a 429's ``Retry-After`` pauses every
worker, not only the one that got it. Without Redis (the embedded default) both hold for the
threads of this process.

The rate is kept with the generic cell rate algorithm (GCRA): the store keeps one time, the
theoretical arrival time of the next send; each send books the next slot and sleeps until
it. One round trip a send, never a poll, and at most ``rate + burst`` sends in any second.
With no rate set, a worker reads the pause from Redis at most four times a second.
A pause longer than ``LONGEST_WAIT`` is not waited out: the send is held back, and the
batch is retried after it (a worker is not kept asleep for a two-minute ``Retry-After``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# A second's worth of sends may start this much early, so that a slow send does not cost
# its slot; a tenth of the rate keeps every one-second window within 10% of it.
_BURST_SHARE = 0.1

# A sender sleeps at most this long for its turn; a longer pause holds the send back.
LONGEST_WAIT = 5.0

# Redis' own clock, so that every machine books slots on the same time line. Returns how
# long to wait, as a string (a Lua number would be cut to an integer).
_BOOK_A_SLOT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local paused_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused_until - now > tonumber(ARGV[3]) then
    return tostring(paused_until - now)
end
local next_slot = math.max(now, paused_until)
if interval > 0 then
    next_slot = math.max(next_slot, tonumber(redis.call('GET', KEYS[1]) or '0'))
    redis.call('SET', KEYS[1], tostring(next_slot + interval), 'PX', 60000)
end
return tostring(math.max(0, next_slot - tolerance - now))
"""

_PAUSE_ALL = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local seconds = tonumber(ARGV[1])
if now + seconds > tonumber(redis.call('GET', KEYS[1]) or '0') then
    redis.call('SET', KEYS[1], tostring(now + seconds), 'PX', math.ceil(seconds * 1000) + 1000)
end
return 1
"""

# With no rate to keep, a sender only needs to know of a pause: it asks Redis at most this
# often (a round trip a send would cost a worker a fifth of its sends at no latency).
_PAUSE_REFRESH_SECONDS = 0.25

# After Redis failed to answer, it is asked again only after this long (not on every send).
_RETRY_REDIS_SECONDS = 5.0

_PAUSED_FOR = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
return tostring(math.max(0, tonumber(redis.call('GET', KEYS[1]) or '0') - now))
"""

_SLOT_KEY = "paper-digest:send-throttle:next-slot"
_PAUSE_KEY = "paper-digest:send-throttle:paused-until"


class Throttle(Protocol):
    """Where a sender waits for its turn."""

    def wait_for_turn(self, stop: threading.Event) -> float:
        """Block until this send may start and return 0; or return how long to hold it back
        instead: every sender is paused for longer than ``LONGEST_WAIT`` (that long), or
        ``stop`` was set meanwhile (``math.inf``)."""
        ...

    def pause_all(self, seconds: float) -> None:
        """Let no sender start for ``seconds`` (the ESP asked us to slow down)."""
        ...


def _spacing(rate: float | None) -> tuple[float, float]:
    """(seconds between sends, how early a send may start) for ``rate`` sends a second."""
    if not rate:
        return 0.0, 0.0
    interval = 1.0 / rate
    burst = max(1.0, rate * _BURST_SHARE)
    return interval, (burst - 1) * interval


def _sleep(seconds: float, stop: threading.Event) -> float:
    """Sleep ``seconds`` unless ``stop`` is set first: 0 to go on, ``math.inf`` if stopped."""
    stopped = stop.wait(seconds) if seconds else stop.is_set()
    return math.inf if stopped else 0.0


class LocalThrottle:
    """The rate and pauses for the threads of this process only."""

    def __init__(self, rate: float | None) -> None:
        self._interval, self._tolerance = _spacing(rate)
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0

    def wait_for_turn(self, stop: threading.Event) -> float:
        with self._lock:
            now = time.monotonic()
            if self._paused_until - now > LONGEST_WAIT:
                return self._paused_until - now
            slot = max(self._next_slot, now, self._paused_until)
            if self._interval:
                self._next_slot = slot + self._interval
            wait = max(0.0, slot - self._tolerance - now)
        return _sleep(wait, stop)

    def pause_all(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


class RedisThrottle:
    """The rate and pauses for every worker that shares this Redis.

    While Redis cannot be reached, each process keeps the rate and pauses for itself (so
    several workers may together exceed the rate until it is back): sending needs only the
    database and the ESP, and an ESP that is pushed too hard answers 429, which is retried.
    """

    def __init__(self, rate: float | None, url: str) -> None:
        self._interval, self._tolerance = _spacing(rate)
        self._alone = LocalThrottle(rate)
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._book = self._redis.register_script(_BOOK_A_SLOT)
        self._pause = self._redis.register_script(_PAUSE_ALL)
        self._paused_for = self._redis.register_script(_PAUSED_FOR)
        self._lock = threading.Lock()
        self._known_pause_until = 0.0  # monotonic time, as last read from Redis
        self._pause_read_at = -math.inf
        self._unreachable_until = 0.0  # monotonic time: until then, not asked again

    def wait_for_turn(self, stop: threading.Event) -> float:
        if time.monotonic() < self._unreachable_until:
            return self._alone.wait_for_turn(stop)
        try:
            if not self._interval:
                return self._wait_out_a_pause(stop)
            keys, args = [_SLOT_KEY, _PAUSE_KEY], [self._interval, self._tolerance, LONGEST_WAIT]
            wait = float(self._book(keys=keys, args=args))
        except redis.RedisError as error:
            logger.warning("send throttle: Redis unreachable (%s); this process alone", error)
            self._unreachable_until = time.monotonic() + _RETRY_REDIS_SECONDS
            return self._alone.wait_for_turn(stop)
        return wait if wait > LONGEST_WAIT else _sleep(wait, stop)

    def pause_all(self, seconds: float) -> None:
        self._alone.pause_all(seconds)
        with self._lock:
            self._known_pause_until = max(self._known_pause_until, time.monotonic() + seconds)
        try:
            self._pause(keys=[_PAUSE_KEY], args=[seconds])
        except redis.RedisError as error:
            logger.warning("send throttle: Redis unreachable (%s); paused here only", error)

    def _wait_out_a_pause(self, stop: threading.Event) -> float:
        with self._lock:
            now = time.monotonic()
            if now - self._pause_read_at >= _PAUSE_REFRESH_SECONDS:
                self._pause_read_at = now  # also when Redis fails: not every send asks again
                remaining = float(self._paused_for(keys=[_PAUSE_KEY]))
                self._known_pause_until = max(self._known_pause_until, now + remaining)
            wait = max(0.0, self._known_pause_until - now)
        return wait if wait > LONGEST_WAIT else _sleep(wait, stop)


@lru_cache(maxsize=4)
def _throttle(rate: float | None, redis_url: str) -> Throttle:
    return RedisThrottle(rate, redis_url) if redis_url else LocalThrottle(rate)


def send_throttle() -> Throttle:
    """The throttle of the configured rate: shared through Redis when ``REDIS_URL`` is set,
    else by this process' threads. One object a process, so its pools share it."""
    return _throttle(settings.DIGESTS["SEND_RATE_PER_SECOND"], settings.REDIS_URL)


def forget_throttles() -> None:
    """Forget every booked slot and pause, here and in Redis (for tests, which change the
    rate and the Redis URL, and must not inherit another test's pause)."""
    _throttle.cache_clear()
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(_SLOT_KEY, _PAUSE_KEY)
