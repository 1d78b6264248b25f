"""Small shared state between processes: the live loop's lease, the workers' heartbeats.

Redis when the broker is Redis (every worker sees it); in memory otherwise, which is
right for the one-process `run` mode. Check-and-set is atomic in both.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from .settings import Settings

_COMPARE_AND_SET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class Store(Protocol):
    """What the live loop's lease, its heartbeat and the alerts need of shared state.
    Values are text; `ttl` is in seconds. Both check-and-sets are atomic."""

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        """Set `key` to `value` expiring in `ttl` seconds, unless it holds a value; whether it was set."""
        ...

    def compare_and_set(self, key: str, expected: str, value: str, ttl: float) -> bool:
        """Set `key` to `value` expiring in `ttl` seconds if it holds `expected`; whether it was set."""
        ...

    def get(self, key: str) -> str | None: ...

    def ttl(self, key: str) -> float | None:
        """Seconds until `key` expires; None if it is absent or never expires."""
        ...

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Set `key` to `value`, expiring in `ttl` seconds (None: never)."""
        ...

    def delete(self, key: str) -> None: ...


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                           decode_responses=True)
        self._cas = self.client.register_script(_COMPARE_AND_SET)

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        return bool(self.client.set(key, value, nx=True, px=int(ttl * 1000)))

    def compare_and_set(self, key: str, expected: str, value: str, ttl: float) -> bool:
        return bool(self._cas(keys=[key], args=[expected, value, int(ttl * 1000)]))

    def get(self, key: str) -> str | None:
        # redis-py types every reply as bytes | str whatever the client; decode_responses makes it str.
        return cast("str | None", self.client.get(key))

    def ttl(self, key: str) -> float | None:
        remaining = self.client.pttl(key)
        return remaining / 1000 if remaining >= 0 else None

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self.client.set(key, value, px=int(ttl * 1000) if ttl else None)

    def delete(self, key: str) -> None:
        self.client.delete(key)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[str, float | None]] = {}

    def _live(self, key: str) -> tuple[str, float | None] | None:
        entry = self._values.get(key)
        if entry and entry[1] is not None and entry[1] <= time.monotonic():
            del self._values[key]
            return None
        return entry

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        with self._lock:
            if self._live(key):
                return False
            self._values[key] = (value, time.monotonic() + ttl)
            return True

    def compare_and_set(self, key: str, expected: str, value: str, ttl: float) -> bool:
        with self._lock:
            entry = self._live(key)
            if not entry or entry[0] != expected:
                return False
            self._values[key] = (value, time.monotonic() + ttl)
            return True

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._live(key)
            return entry[0] if entry else None

    def ttl(self, key: str) -> float | None:
        with self._lock:
            entry = self._live(key)
            return entry[1] - time.monotonic() if entry and entry[1] is not None else None

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        with self._lock:
            self._values[key] = (value, time.monotonic() + ttl if ttl else None)

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)


_memory = MemoryStore()
_stores: dict[str, RedisStore] = {}


def store_for(settings: Settings) -> Store:
    url = settings.broker_url
    if url and settings.uses_redis:
        if url not in _stores:
            _stores[url] = RedisStore(url)
        return _stores[url]
    return _memory
