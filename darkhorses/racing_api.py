"""The one HTTP client for The Racing API (spec: shared/racing-api/openapi.yml, v1.4.3).

Basic auth, timeouts, a shared rate limit per endpoint, retries with exponential backoff
on 429/5xx/connection errors/broken bodies (honouring Retry-After), and pagination.
Errors that retrying cannot fix (credentials, a date outside the plan) are raised at once
as their own types so callers can act on them.
"""
from __future__ import annotations

import email.utils
import logging
import random
import time
from datetime import date

import requests

from .ratelimit import RateLimiter, limiter_for
from .settings import Settings, get_settings, mask_url

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


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _detail(response) -> str:
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return detail if isinstance(detail, str) else str(detail)[:300]


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
        self.session = requests.Session()
        if self.settings.has_credentials:
            self.session.auth = (self.settings.racing_api_username, self.settings.racing_api_password)
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

    # -- mechanics -------------------------------------------------------------------------
    def _paginate(self, endpoint: str, path: str, items_key: str, page_size: int, params: dict) -> list[dict]:
        items: list[dict] = []
        skip = 0
        while True:
            page = self.get_json(endpoint, path, {**params, "limit": page_size, "skip": skip})
            batch = page.get(items_key) or []
            total = page.get("total")
            if not isinstance(batch, list) or not isinstance(total, int):
                raise BadResponse(f"{path}: page without a '{items_key}' list and an integer 'total'")
            items.extend(batch)
            skip += len(batch)
            if not batch or skip >= total:
                return items

    def get_json(self, endpoint: str, path: str, params: dict) -> dict:
        url = self.base_url + path
        for attempt in range(1, self.max_attempts + 1):
            self.limiter.acquire(endpoint)
            self.requests_made += 1
            wait = None
            try:
                response = self.session.get(url, params=params, timeout=self.settings.request_timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}"
            else:
                status = response.status_code
                if status in (401, 403):
                    raise CredentialsRejected(
                        f"{path}: The Racing API rejected the credentials (HTTP {status}); "
                        "check RACING_API_USERNAME and RACING_API_PASSWORD")
                if status in (404, 422):
                    detail = _detail(response)
                    raise RequestRefused(f"{path}: refused with HTTP {status}: {detail}", status, detail)
                if status == 429 or status >= 500:
                    problem = f"HTTP {status}"
                    wait = _retry_after(response)
                elif status >= 400:
                    raise RacingAPIError(f"{path}: HTTP {status}: {_detail(response)}")
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        problem = "a body that is not valid JSON"
                    else:
                        if isinstance(body, dict):
                            return body
                        raise BadResponse(f"{path}: expected a JSON object, got {type(body).__name__}")
            if attempt == self.max_attempts:
                if problem.startswith("a body"):
                    raise BadResponse(f"{path}: {problem} after {attempt} attempts")
                raise TemporarilyUnavailable(f"{path}: {problem} after {attempt} attempts")
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            if wait is not None:
                delay = max(delay, wait)
            log.warning("Racing API %s: %s; retry %d/%d in %.1fs", mask_url(url), problem,
                        attempt, self.max_attempts - 1, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")
