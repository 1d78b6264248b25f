"""The one HTTP client for The Racing API (spec v1.4.3: tests/fixtures/racing-api-openapi.yml).

Basic auth, timeouts, a shared rate limit per endpoint, retries with exponential backoff
on 429/5xx/connection errors/broken bodies (honouring Retry-After), and pagination.
Errors that retrying cannot fix (credentials, a date outside the plan) are raised at once
as their own types so callers can act on them.
"""
from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import math
import random
import time
from datetime import date
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3

from ..core.logsafe import safe
from ..core.settings import Settings, get_settings, mask_url
from .ratelimit import RateLimiter, limiter_for

log = logging.getLogger(__name__)

RACECARDS_PAGE = 500  # the spec's maximum `limit` per endpoint
RESULTS_PAGE = 100


class RacingAPIError(Exception):
    """Base class; the message always names the endpoint."""


class CredentialsRejected(RacingAPIError):
    """401/403: retrying cannot help; the operator must fix RACING_API_USERNAME/PASSWORD."""


class RequestRefused(RacingAPIError):
    """422/404: the API will not serve this request (e.g. a date outside the plan)."""

    def __init__(self, message: str, status: int, detail: str):
        super().__init__(message)
        self.status = status
        self.detail = detail


class BadResponse(RacingAPIError):
    """A body that is not the JSON the spec promises."""


class TemporarilyUnavailable(RacingAPIError):
    """Retries exhausted on 429/5xx/network errors; a later attempt may succeed."""


class RedirectRefused(RacingAPIError):
    """A redirect to another host: never followed (RACING_API_URL is probably wrong)."""


_warned_plain_http: set[str] = set()


def _warn_if_plain_http(base_url: str) -> None:
    """Once per URL: plain http to a machine other than this one sends the login in clear."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parts.scheme == "http" and not loopback and base_url not in _warned_plain_http:
        _warned_plain_http.add(base_url)
        log.warning("RACING_API_URL %s is plain http to another machine: the credentials and data "
                    "travel unencrypted; use https", mask_url(base_url))


class _SameHostSession(requests.Session):
    """Follows a redirect only on the same host (and never from https down to http)."""

    def get_redirect_target(self, resp):
        target = super().get_redirect_target(resp)
        if target:
            old, new = urlsplit(resp.url), urlsplit(urljoin(resp.url, target))
            if new.hostname != old.hostname or (old.scheme == "https" and new.scheme != "https"):
                resp.close()
                raise RedirectRefused(
                    f"{safe(old.path)}: refused to follow a redirect to another host "
                    f"({safe(new.scheme)}://{safe(new.hostname)}); check RACING_API_URL")
        return target


class _Retry(Exception):
    """One attempt failed in a way a later attempt may not: (problem, seconds asked to wait)."""

    def __init__(self, problem: str, wait: float | None = None, bad_body: bool = False):
        super().__init__(problem)
        self.problem, self.wait, self.bad_body = problem, wait, bad_body


def _retry_after(response) -> float | None:
    """Seconds from Retry-After (a number or an HTTP date); None when absent. Anything
    else, a negative or non-finite number included, makes the answer a bad response."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError as not_a_number:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise _Retry(f"HTTP {response.status_code} with an unreadable Retry-After {safe(value, 40)!r}") \
                from not_a_number
        seconds = max(0.0, parsed.timestamp() - time.time())
    if not math.isfinite(seconds) or seconds < 0:
        raise _Retry(f"HTTP {response.status_code} with an unreadable Retry-After {safe(value, 40)!r}")
    return seconds


def _detail(body: bytes | bytearray) -> str:
    try:
        detail = json.loads(body[:20000]).get("detail", "")
    except (ValueError, AttributeError, RecursionError):
        detail = body[:200].decode("utf-8", "replace")
    return safe(detail, 300)


class RacingAPIClient:
    def __init__(self, settings: Settings | None = None, *, limiter: RateLimiter | None = None,
                 max_attempts: int | None = None, backoff: float = 1.0, max_backoff: float = 60.0,
                 sleep=time.sleep):
        self.settings = settings or get_settings()
        self.base_url = self.settings.racing_api_url
        self.limiter = limiter or limiter_for(self.settings)
        self.max_attempts = max_attempts or self.settings.max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.session = _SameHostSession()
        self.session.max_redirects = 5
        _warn_if_plain_http(self.base_url)
        username, password = self.settings.racing_api_username, self.settings.racing_api_password
        if username and password:  # settings.has_credentials
            self.session.auth = (username, password)
        self.session.headers["User-Agent"] = "darkhorses-workers"
        self.requests_made = 0

    def close(self) -> None:
        self.session.close()

    # -- endpoints -------------------------------------------------------------------------
    def racecards_pro(self, day: date, regions) -> list[dict]:
        return self._paginate("racecards", "/v1/racecards/pro", "racecards", RACECARDS_PAGE,
                              {"date": day.isoformat(), "region_codes": list(regions)})

    def results(self, day: date, regions) -> list[dict]:
        # One query per date, as the vendor advises: a date range pages far deeper.
        return self._paginate("results", "/v1/results", "results", RESULTS_PAGE,
                              {"start_date": day.isoformat(), "end_date": day.isoformat(),
                               "region": list(regions)})

    def runner_odds(self, race_id: str, horse_id: str) -> dict:
        return self.get_json("odds", f"/v1/odds/{race_id}/{horse_id}", {})

    def results_today(self, regions) -> list[dict]:
        """Today's results as they are published (/v1/results/today)."""
        return self._paginate("results_today", "/v1/results/today", "results", RESULTS_PAGE,
                              {"region": list(regions)})

    def racecard_pro(self, race_id: str) -> dict:
        """One race's card with each bookmaker's history[] (/v1/racecards/{race_id}/pro), also after the race."""
        return self.get_json("racecard", f"/v1/racecards/{quote(race_id, safe='')}/pro", {})

    # -- mechanics -------------------------------------------------------------------------
    def _paginate(self, endpoint: str, path: str, items_key: str, page_size: int, params: dict) -> list[dict]:
        """Every page of a listing, until the first page's `total` is reached: a listing that
        grows while it is paged, or claims more than RACING_API_MAX_PAGES pages, cannot keep
        us paging forever."""
        items: list[dict] = []
        skip, pages, first_total = 0, 0, None
        while True:
            page = self.get_json(endpoint, path, {**params, "limit": page_size, "skip": skip})
            batch = page.get(items_key) or []
            total = page.get("total")
            if not isinstance(batch, list) or type(total) is not int or total < 0:
                raise BadResponse(f"{path}: page without a '{items_key}' list and an integer 'total'")
            if len(batch) > page_size:
                raise BadResponse(f"{path}: a page of {len(batch)} items, more than the {page_size} asked for")
            if first_total is None:
                first_total = total
                if -(-total // page_size) > self.settings.max_pages:
                    raise BadResponse(f"{path}: 'total' {total} would take {-(-total // page_size)} pages, "
                                      f"more than RACING_API_MAX_PAGES={self.settings.max_pages}")
            items.extend(batch)
            skip += len(batch)
            pages += 1
            if not batch or skip >= min(total, first_total):
                return items
            if pages >= self.settings.max_pages:
                raise BadResponse(f"{path}: still short of 'total' {first_total} after "
                                  f"RACING_API_MAX_PAGES={self.settings.max_pages} pages")

    def get_json(self, endpoint: str, path: str, params: dict) -> dict:
        url = self.base_url + path
        path = safe(path)  # it holds ids from the API (odds): shown in messages, escaped
        for attempt in range(1, self.max_attempts + 1):
            self.limiter.acquire(endpoint)
            self.requests_made += 1
            try:
                return self._attempt(path, url, params)
            except _Retry as retry:
                problem, wait, bad_body = retry.problem, retry.wait, retry.bad_body
            if wait is not None and wait > self.settings.max_retry_after:
                raise TemporarilyUnavailable(
                    f"{path}: {problem}, asked to wait {wait:,.0f}s, more than "
                    f"RACING_API_MAX_RETRY_AFTER={self.settings.max_retry_after:g}s")
            if attempt == self.max_attempts:
                raise (BadResponse if bad_body else TemporarilyUnavailable)(
                    f"{path}: {problem} after {attempt} attempts")
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            if wait is not None:
                delay = max(delay, wait)
            log.warning("Racing API %s: %s; retry %d/%d in %.1fs", safe(mask_url(url), 300), problem,
                        attempt, self.max_attempts - 1, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _attempt(self, path: str, url: str, params: dict) -> dict:
        """One request: the JSON object, or _Retry, or an error no retry can fix."""
        deadline = time.monotonic() + self.settings.request_deadline
        try:
            response = self.session.get(url, params=params, stream=True, timeout=(
                min(self.settings.request_timeout, self.settings.request_deadline),) * 2)
            with response:
                status = response.status_code
                if status in (401, 403):
                    raise CredentialsRejected(
                        f"{path}: The Racing API rejected the credentials (HTTP {status}); "
                        "check RACING_API_USERNAME and RACING_API_PASSWORD")
                if status == 429 or status >= 500:
                    raise _Retry(f"HTTP {status}", _retry_after(response))
                if 300 <= status < 400:
                    raise RacingAPIError(f"{path}: HTTP {status} redirect not followed")
                body = self._read_body(path, response, deadline)
        except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise _Retry(type(exc).__name__) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # The body is read from urllib3 directly: its errors (a cut chunked body) are not requests'.
            raise _Retry(f"a broken body ({type(exc).__name__})", bad_body=True) from None
        if status in (404, 422):
            detail = _detail(body)
            raise RequestRefused(f"{path}: refused with HTTP {status}: {detail}", status, detail)
        if status >= 400:
            raise RacingAPIError(f"{path}: HTTP {status}: {_detail(body)}")
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            # RecursionError: nesting deeper than the parser's stack; as broken as a cut body.
            raise _Retry("a body that is not valid JSON", bad_body=True) from None
        if isinstance(parsed, dict):
            return parsed
        raise BadResponse(f"{path}: expected a JSON object, got {type(parsed).__name__}")

    def _read_body(self, path: str, response, deadline: float) -> bytearray:
        """The body, read as it arrives (decompressed), refused as soon as it passes
        RACING_API_MAX_RESPONSE_BYTES or the whole request passes RACING_API_REQUEST_DEADLINE
        (the timeout alone applies to each read, so a trickle would never end)."""
        limit = self.settings.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Retry(f"a body of {int(declared):,} bytes, more than RACING_API_MAX_RESPONSE_BYTES={limit:,}",
                         bad_body=True)
        body = bytearray()  # one growing buffer: no list of chunks plus a joined copy
        while True:
            if time.monotonic() > deadline:
                raise _Retry(f"no complete answer within RACING_API_REQUEST_DEADLINE="
                             f"{self.settings.request_deadline:g}s", bad_body=True)
            chunk = response.raw.read1(1 << 16, decode_content=True)
            if not chunk:
                return body
            if len(body) + len(chunk) > limit:
                raise _Retry(f"a body of more than RACING_API_MAX_RESPONSE_BYTES={limit:,} bytes", bad_body=True)
            body += chunk
