"""The per-endpoint rate limit holds across threads and across processes (via Redis)."""
import multiprocessing
import threading
import time

from darkhorses.racing_api.ratelimit import RateLimiter
from tests.support import max_in_any_window


def _hammer(limiter, endpoint, count, out):
    for _ in range(count):
        limiter.acquire(endpoint)
        out.append(time.time())


def test_in_memory_limit_holds_across_threads():
    limiter = RateLimiter({"results": 5, "racecards": 2})
    stamps = {"results": [], "racecards": []}
    threads = [threading.Thread(target=_hammer, args=(limiter, name, 4, stamps[name]))
               for name in ("results", "results", "racecards")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(stamps["results"]) == 8 and len(stamps["racecards"]) == 4
    assert max_in_any_window(stamps["results"]) <= 5
    assert max_in_any_window(stamps["racecards"]) <= 2


def test_global_limit_caps_all_endpoints_together():
    limiter = RateLimiter({"a": 100, "b": 100}, per_10_seconds=3)
    assert limiter.try_acquire("a") == 0 and limiter.try_acquire("b") == 0 and limiter.try_acquire("a") == 0
    assert limiter.try_acquire("b") > 9.0


def _process_worker(redis_url, count, queue):
    limiter = RateLimiter({"results": 5}, redis_url=redis_url, prefix="test:rl")
    for _ in range(count):
        limiter.acquire("results")
        queue.put(time.time())


def test_redis_limit_holds_across_processes(redis_url):
    queue = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=_process_worker, args=(redis_url, 6, queue)) for _ in range(3)]
    for p in processes:
        p.start()
    stamps = [queue.get(timeout=30) for _ in range(18)]
    for p in processes:
        p.join(10)
    assert max_in_any_window(stamps) <= 5
    # and the budget is used, not wasted: 18 requests at 5/s take a little over 3 s
    assert max(stamps) - min(stamps) < 5.0


def test_fractional_rates_never_exceed_the_limit_in_any_second():
    from darkhorses.racing_api.ratelimit import _windows
    assert _windows(5) == (5, 1100) and _windows(2.5) == (2, 1100) and _windows(0.5) == (1, 2100)
    for rate in (0.5, 1, 2.5, 5, 7.9):
        count, window_ms = _windows(rate)
        # a window of at least a second (at least 1/rate below one request a second) holding at
        # most the rate: no one-second stretch can hold more
        assert window_ms >= 1000 * max(1, 1 / rate) and count <= max(rate, 1)
