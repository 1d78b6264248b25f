"""How many requests the client made to The Racing API, and how they ended, per endpoint.

Kept in Redis when the broker is Redis (one hash every worker adds to, read by the metrics
exporter at each scrape), in memory otherwise (the one-process `run` mode). Counting is a
report: a failure to count never fails a request.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter

from ..core.settings import Settings

log = logging.getLogger(__name__)
COUNTS_KEY = "darkhorses:api:calls"
# What a request ended with, as few values as a metric label should have.
OUTCOMES = ("ok", "429", "4xx", "5xx", "error")


def outcome_of(status: int | None) -> str:
    """'ok', '429', '4xx', '5xx', or 'error' (no HTTP answer: a timeout, a refused connection)."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    return "4xx" if status >= 400 else "ok"


class CallCounter:
    def __init__(self, redis_url: str | None = None) -> None:
        self._redis = None
        if redis_url:
            import redis
            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2,
                                               decode_responses=True)
        self._memory: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, endpoint: str, status: int | None) -> None:
        field = f"{endpoint}:{outcome_of(status)}"
        if self._redis is None:
            with self._lock:
                self._memory[field] += 1
            return
        try:
            self._redis.hincrby(COUNTS_KEY, field, 1)
        except Exception as exc:  # noqa: BLE001 - a report; the request itself went fine
            log.debug("API call not counted: %s", exc)

    def counts(self) -> dict[tuple[str, str], int]:
        """{(endpoint, outcome): requests} since the counts began."""
        if self._redis is None:
            with self._lock:
                raw = dict(self._memory)
        else:
            raw = {str(k): int(v) for k, v in self._redis.hgetall(COUNTS_KEY).items()}
        out = {}
        for field, count in raw.items():
            endpoint, _, outcome = field.rpartition(":")
            out[(endpoint, outcome)] = count
        return out


_shared: dict[str | None, CallCounter] = {}
_shared_lock = threading.Lock()


def counter_for(settings: Settings) -> CallCounter:
    """The process's counter: Redis-backed when the broker is Redis, in memory otherwise."""
    redis_url = settings.broker_url if settings.uses_redis else None
    with _shared_lock:
        if redis_url not in _shared:
            _shared[redis_url] = CallCounter(redis_url)
        return _shared[redis_url]
