"""Request rate limits for The Racing API, per endpoint and overall.

The limits are the account's, not a process's: every worker process on every machine
shares one budget, so with a Redis broker the sliding-window log lives in Redis (a Lua
script makes check-and-take atomic, on the Redis server's clock). Without Redis (the
embedded `run` mode is one process) the same algorithm runs in memory.
"""
from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque

from ..core.settings import Settings

# Clocks and networks jitter: leave this much slack so the API never counts one too many.
WINDOW_MARGIN = 0.1

_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now_ms)
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now_ms, ARGV[#ARGV] .. ':' .. now_ms .. ':' .. i)
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i]) + 1000)
end
return 0
"""


def _windows(rate_per_second: float) -> tuple[int, int]:
    """A rate as (requests, window in ms) that never exceeds it in any one-second stretch:
    5/s -> (5, 1100 ms); 2.5/s -> (2, 1100 ms); 0.5/s -> (1, 2100 ms)."""
    if rate_per_second >= 1:
        return math.floor(rate_per_second), int(round((1 + WINDOW_MARGIN) * 1000))
    return 1, int(round((1 / rate_per_second + WINDOW_MARGIN) * 1000))


class RateLimiter:
    """`acquire(endpoint)` blocks until one more request to `endpoint` fits every limit."""

    def __init__(self, per_endpoint: dict[str, float], per_10_seconds: int | None = None,
                 redis_url: str | None = None, prefix: str = "darkhorses:ratelimit",
                 sleep=time.sleep):
        self.limits = {name: _windows(rate) for name, rate in per_endpoint.items()}
        self.global_limit = (per_10_seconds, 10_000 + int(WINDOW_MARGIN * 1000)) if per_10_seconds else None
        self.prefix = prefix
        self.sleep = sleep
        self._redis = None
        if redis_url:
            import redis
            self._redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
            self._script = self._redis.register_script(_ACQUIRE)
        self._lock = threading.Lock()
        self._logs: dict[str, deque] = {}

    def _rules(self, endpoint: str) -> list[tuple[str, int, int]]:
        count, window = self.limits.get(endpoint, self.limits.get("default", (5, 1050)))
        rules = [(f"{self.prefix}:{endpoint}", count, window)]
        if self.global_limit:
            rules.append((f"{self.prefix}:all", *self.global_limit))
        return rules

    def try_acquire(self, endpoint: str) -> float:
        """Take a slot and return 0, or return the seconds to wait before trying again."""
        rules = self._rules(endpoint)
        if self._redis is not None:
            args = [v for _, count, window in rules for v in (count, window)] + [uuid.uuid4().hex]
            return int(self._script(keys=[key for key, _, _ in rules], args=args)) / 1000.0
        with self._lock:
            now = time.monotonic() * 1000
            wait = 0.0
            for key, count, window in rules:
                log = self._logs.setdefault(key, deque())
                while log and log[0] <= now - window:
                    log.popleft()
                if len(log) >= count:
                    wait = max(wait, log[0] + window - now)
            if wait > 0:
                return wait / 1000.0
            for key, _, _ in rules:
                self._logs[key].append(now)
            return 0.0

    def acquire(self, endpoint: str) -> float:
        waited = 0.0
        while (wait := self.try_acquire(endpoint)) > 0:
            self.sleep(wait)
            waited += wait
        return waited


_shared: dict[tuple, RateLimiter] = {}
_shared_lock = threading.Lock()


def limiter_for(settings: Settings) -> RateLimiter:
    """The process's limiter: Redis-backed when the broker is Redis, in-memory otherwise."""
    redis_url = settings.broker_url if settings.uses_redis else None
    key = (redis_url, tuple(sorted(settings.rate_limits.items())), settings.global_rate_limit)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = RateLimiter(settings.rate_limits, settings.global_rate_limit, redis_url)
        return _shared[key]
