"""HTTP semantics without a socket: Basic auth, routing and FastAPI-style validation, per-endpoint
rate limits and injected faults. `server.py` puts this on a port."""
from __future__ import annotations

import base64
import hmac
import json
import math
import random
import re
import threading
import time
from collections import deque
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from .model import ApiError, Faults


class HttpSemantics:
    """Mixed into Simulator (uses its faults, rate_limits, request_log, _auth, _lock, _windows,
    _fault_rng, _closing, hang_seconds and the endpoint methods)."""

    if TYPE_CHECKING:  # Simulator's, declared for the type checker only
        faults: Faults
        rate_limits: dict[str, float]
        request_log: list[tuple[float, str, int]]
        hang_seconds: float
        _auth: bytes
        _lock: threading.Lock
        _windows: dict[str, deque[float]]
        _fault_rng: random.Random
        _closing: threading.Event

        def today(self) -> date: ...
        def racecards_pro(self, date: date, regions: list[str] | None = None, limit: int = 500, skip: int = 0,
                          *, query: list | None = None) -> dict: ...
        def results(self, start: date | None = None, end: date | None = None, regions: list[str] | None = None,
                    limit: int = 50, skip: int = 0, *, query: list | None = None) -> dict: ...
        def runner_odds(self, race_id: str, horse_id: str) -> dict: ...
        def results_today(self, regions: list[str] | None = None, limit: int = 50, skip: int = 0,
                          *, query: list | None = None) -> dict: ...
        def racecard_pro(self, race_id: str) -> dict: ...
        def courses(self, regions: list[str] | None = None) -> dict: ...

    def handle(self, method: str, target: str, headers) -> tuple[int, dict, bytes]:
        """Answer one request: (status, headers, body). Sleeps for latency/timeout faults."""
        arrived = time.time()  # what a rate limit counts: when the request came in
        url = urlsplit(target)
        path, params = url.path.rstrip("/") or "/", parse_qsl(url.query, keep_blank_values=True)
        if path == "/_sim/requests":
            since = float(dict(params).get("since", 0) or 0)
            with self._lock:
                log = [entry for entry in self.request_log if entry[0] >= since]
            return self._json(200, log)
        parts = path.split("/")
        key = {"racecards": "racecards", "results": "results", "odds": "odds", "courses": "courses"}.get(
            parts[2] if len(parts) > 2 and parts[1] == "v1" else "", "other")
        if parts[2:] == ["results", "today"]:
            key = "results_today"      # each endpoint has its own limit
        elif key == "racecards" and len(parts) == 5 and parts[4] == "pro":
            key = "racecard"
        if self.faults.latency:
            time.sleep(self.faults.latency)
        status, extra, body = self._answer(method, path, params, headers, key)
        with self._lock:
            self.request_log.append((arrived, key, status))
        return status, extra, body

    def _answer(self, method, path, params, headers, key):
        if not path.startswith("/v1/"):
            return self._json(404, {"detail": "Not Found"})
        supplied = (headers.get("Authorization") or "").partition(" ")
        try:
            ok = supplied[0].lower() == "basic" and hmac.compare_digest(base64.b64decode(supplied[2]), self._auth)
        except ValueError:
            ok = False
        if not ok:
            status, hdrs, body = self._json(401, {"detail": "Invalid username or password" if supplied[2]
                                                  else "Not authenticated"})
            return status, {**hdrs, "WWW-Authenticate": 'Basic realm="The Racing API"'}, body
        if method != "GET":
            return self._json(405, {"detail": "Method Not Allowed"})
        wait = self._admit(key)
        if wait is not None:
            status, hdrs, body = self._json(429, {"detail": f"Too Many Requests: the limit for this endpoint is "
                                                            f"{self.rate_limits[key]} requests per second"})
            return status, {**hdrs, "Retry-After": str(max(1, math.ceil(wait)))}, body
        with self._lock:
            rolls = [self._fault_rng.random() for _ in range(4)]
        f = self.faults
        if rolls[0] < f.rate429:
            status, hdrs, body = self._json(429, {"detail": "Too Many Requests"})
            return status, {**hdrs, "Retry-After": "1"}, body
        if rolls[1] < f.error_rate:
            status = (500, 502, 503)[int(rolls[1] / f.error_rate * 3) % 3]
            if status == 500:   # FastAPI's unhandled-error answer; 502/503 come from the CDN as HTML
                return 500, {"Content-Type": "text/plain; charset=utf-8"}, b"Internal Server Error"
            page = f"<html><head><title>{status}</title></head><body><h1>{status}</h1>cloudflare</body></html>"
            return status, {"Content-Type": "text/html"}, page.encode()
        if rolls[2] < f.timeout_rate:
            self._closing.wait(self.hang_seconds)
        try:
            status, hdrs, body = self._json(200, self._route(path, params))
        except ApiError as exc:
            return self._json(exc.status, exc.payload)
        if rolls[3] < f.truncate_rate:
            body = body[:len(body) // 2]
        return status, hdrs, body

    def _route(self, path, params):
        parts, query = path.split("/")[2:], [[k, v] for k, v in params]
        errors = []

        def values(name):
            return [v for k, v in params if k == name]

        def integer(name, default):
            raw = values(name)
            if not raw:
                return default
            try:
                return int(raw[-1])
            except ValueError:
                errors.append({"type": "int_parsing", "loc": ["query", name], "input": raw[-1],
                               "msg": "Input should be a valid integer, unable to parse string as an integer"})
                return default

        def day(name, default):
            raw = values(name)
            if not raw:
                return default
            try:
                if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw[-1]):
                    return date.fromisoformat(raw[-1])
            except ValueError:
                pass
            raise ApiError(422, f"Invalid {name} {raw[-1]!r}: use the format YYYY-MM-DD (e.g. 2023-04-05).")
        if parts == ["racecards", "pro"]:
            limit, skip = integer("limit", 500), integer("skip", 0)
            if errors:
                raise ApiError(422, errors)
            return self.racecards_pro(day("date", self.today()), values("region_codes"), limit, skip, query=query)
        if parts == ["results"]:
            limit, skip = integer("limit", 50), integer("skip", 0)
            if errors:
                raise ApiError(422, errors)
            return self.results(day("start_date", None), day("end_date", None), values("region"), limit, skip,
                                query=query)
        if parts == ["results", "today"]:
            limit, skip = integer("limit", 50), integer("skip", 0)
            if errors:
                raise ApiError(422, errors)
            return self.results_today(values("region"), limit, skip, query=query)
        if len(parts) == 3 and parts[0] == "racecards" and parts[2] == "pro":
            return self.racecard_pro(unquote(parts[1]))
        if len(parts) == 3 and parts[0] == "odds":
            return self.runner_odds(unquote(parts[1]), unquote(parts[2]))
        if parts == ["courses"]:
            return self.courses(values("region_codes"))
        raise ApiError(404, "Not Found")

    def _admit(self, key: str) -> float | None:
        """Sliding one-second window per endpoint; returns seconds to wait when over the limit."""
        limit = self.rate_limits.get(key)
        if not limit:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                return 1.0 - (now - window[0])
            window.append(now)
        return None

    @staticmethod
    def _json(status: int, payload) -> tuple[int, dict, bytes]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return status, {"Content-Type": "application/json"}, body

