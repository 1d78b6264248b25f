"""Settings from the environment (and `.env`), validated once.

A bad value is reported as one line naming the variable (`SettingsError`), never a
traceback, because the people starting workers read it in a deploy log.
"""
from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from dotenv import load_dotenv

DEFAULT_DATABASE_URL = "sqlite:///var/darkhorses.db"
DEFAULT_RACING_API_URL = "https://api.theracingapi.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# (seconds to the next off, poll interval): the cadence of the service this replaces.
DEFAULT_POLL_INTERVALS = "300:10,1800:60,7200:300,*:900"


class SettingsError(ValueError):
    """A setting is missing or malformed; str() is the one line to show the operator."""


def mask_url(url: str | None) -> str:
    """The URL with any password replaced by '***', for logs and printed output.

    A raw password may hold '/', '@', ':', '#' or '?', so no URL parser can be trusted to
    find where it ends (SQLAlchemy's make_url ends it at the first '@'). Everything up to
    the last '@' is taken as user:password: at worst more is hidden, never a secret shown.
    """
    if not url:
        return ""
    scheme, separator, rest = str(url).partition("://")
    at = rest.rfind("@")
    if not separator or at < 0:
        return str(url)
    user, colon, _password = rest[:at].partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{rest[at + 1:]}"


def mask_webhook(url: str | None) -> str:
    """Scheme and host only: a webhook URL's path is its secret."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/***"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    result_backend: str | None = None
    racing_api_url: str = DEFAULT_RACING_API_URL
    racing_api_username: str | None = None
    racing_api_password: str | None = field(default=None, repr=False)
    regions: tuple[str, ...] = ("gb", "ire")
    rate_limits: dict[str, float] = field(
        default_factory=lambda: {"racecards": 2.0, "racecard": 5.0, "results": 5.0, "results_today": 5.0,
                                 "odds": 5.0})
    # The API's edge blocks a client above ~100 requests in 10 s, whatever the endpoint.
    global_rate_limit: int = 90
    request_timeout: float = 30.0
    max_attempts: int = 6
    # Bounds on what one request may cost: body size, a whole-request deadline, the longest
    # Retry-After obeyed (longer is a clear failure) and pages per listing.
    max_response_bytes: int = 32 * 1024 * 1024
    request_deadline: float = 120.0
    max_retry_after: float = 120.0
    max_pages: int = 200
    poll_intervals: tuple[tuple[float, float], ...] = ()
    historical_catchup_days: int = 14
    historical_stall_seconds: float = 300.0
    historical_resume_seconds: float = 60.0
    historical_retry_seconds: float = 30.0
    live_credentials_backoff: float = 300.0
    live_lease_grace: float = 60.0
    live_cycle_timeout: float = 90.0
    live_failure_backoff: float = 30.0
    live_watchdog_seconds: float = 60.0
    # Each worker's heartbeat (darkhorses/core/heartbeat.py) and the live guard's period.
    heartbeat_seconds: float = 2.0
    heartbeat_dir: str = "var/heartbeat"
    # Past its scheduled off a race stays open until a terminal signal, or until no price moved
    # for this long (quiet), or this long past the scheduled off (cap).
    live_off_quiet_seconds: float = 120.0
    live_off_cap_minutes: float = 30.0
    stats_output_dir: str = "var/stats"
    history_retention_months: int = 0  # 0: keep every month of ra_odds_history
    scheduler_status_dir: str = "logs"
    log_level: str = "INFO"
    flower_basic_auth: str | None = field(default=None, repr=False)
    # Slack/Discord webhook URLs carry their secret in the path: never printed whole.
    alert_webhook_url: str | None = field(default=None, repr=False)

    @property
    def has_credentials(self) -> bool:
        return bool(self.racing_api_username and self.racing_api_password)

    @property
    def uses_redis(self) -> bool:
        return bool(self.broker_url and self.broker_url.startswith(("redis://", "rediss://")))


def parse_poll_intervals(text: str) -> tuple[tuple[float, float], ...]:
    """'300:10,1800:60,*:900' -> ((300, 10), (1800, 60), (inf, 900)), sorted by threshold."""
    table = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        threshold, _, interval = part.partition(":")
        bound = float("inf") if threshold.strip() == "*" else float(threshold)
        seconds = float(interval)
        # NaN compares false with everything: a NaN interval would poll in a hot loop.
        if not (0 < seconds <= 86400) or not (0 < bound <= 10 ** 7 or threshold.strip() == "*"):
            raise ValueError(part)
        table.append((bound, seconds))
    if not table:
        raise ValueError("empty")
    table.sort()
    if table[-1][0] != float("inf"):
        raise ValueError("the last entry must be '*:SECONDS'")
    return tuple(table)


# The environment, or a dict standing in for it.
Env = Mapping[str, str]


def _get(env: Env, name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _number(env: Env, name: str, default: float, kind: Callable[[str], float] = float, minimum: float = 0,
            maximum: float = 86400) -> float:
    """A finite number with minimum < value <= maximum (NaN and infinities refused)."""
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if not math.isfinite(value) or not minimum < value <= maximum:
        raise SettingsError(f"{name}: expected a number greater than {minimum:g} and at most "
                            f"{maximum:g}, got {raw!r}")
    return value


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in schemes:
        raise SettingsError(
            f"{name}: expected a URL starting with one of {', '.join(s + '://' for s in schemes)}, "
            f"got {mask_url(url)!r}")
    return url


class RequestBounds(TypedDict):
    request_timeout: float
    max_attempts: int
    max_response_bytes: int
    request_deadline: float
    max_retry_after: float
    max_pages: int


def _request_bounds(env: Env) -> RequestBounds:
    """What one Racing API request may cost: time, attempts, bytes, pages."""
    return {
        "request_timeout": _number(env, "RACING_API_TIMEOUT", 30.0, maximum=3600),
        "max_attempts": int(_number(env, "RACING_API_MAX_ATTEMPTS", 6, int, maximum=100)),
        "max_response_bytes": int(_number(env, "RACING_API_MAX_RESPONSE_BYTES", 32 * 1024 * 1024, int,
                                          minimum=1023, maximum=2 ** 31)),
        "request_deadline": _number(env, "RACING_API_REQUEST_DEADLINE", 120.0, maximum=3600),
        "max_retry_after": _number(env, "RACING_API_MAX_RETRY_AFTER", 120.0),
        "max_pages": int(_number(env, "RACING_API_MAX_PAGES", 200, int, maximum=100000)),
    }


def _database_url(env: Env) -> str:
    url = _get(env, "DATABASE_URL") or DEFAULT_DATABASE_URL
    # Heroku/Render hand out postgres://, which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    # SQLAlchemy 2.1 defaults to psycopg 3; the pinned driver (and COPY in db/upsert.py) is psycopg2.
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    _check_url("DATABASE_URL", url, ("postgresql", "sqlite"))
    return url


def _regions(env: Env) -> tuple[str, ...]:
    regions = tuple(r.strip().lower() for r in (_get(env, "RACING_API_REGIONS") or "gb,ire").split(",") if r.strip())
    bad = [r for r in regions if not re.fullmatch(r"[a-z]{2,4}", r)]
    if bad or not regions:
        raise SettingsError(f"RACING_API_REGIONS: expected region codes like 'gb,ire', got {bad or regions!r}")
    return regions


def _poll_intervals(env: Env) -> tuple[tuple[float, float], ...]:
    try:
        return parse_poll_intervals(_get(env, "LIVE_POLL_INTERVALS") or DEFAULT_POLL_INTERVALS)
    except ValueError as exc:
        raise SettingsError(
            f"LIVE_POLL_INTERVALS: expected 'SECONDS_TO_OFF:POLL_SECONDS,...,*:POLL_SECONDS', got "
            f"{_get(env, 'LIVE_POLL_INTERVALS')!r} ({exc})") from None


def settings_from_env(env: Env | None = None) -> Settings:
    env = os.environ if env is None else env
    database_url = _database_url(env)

    broker_url = _get(env, "CELERY_BROKER_URL")
    if broker_url:
        _check_url("CELERY_BROKER_URL", broker_url, ("redis", "rediss", "memory", "amqp"))
    result_backend = _get(env, "CELERY_RESULT_BACKEND")
    if result_backend:
        _check_url("CELERY_RESULT_BACKEND", result_backend,
                   ("redis", "rediss", "db", "cache", "rpc"))

    api_url = _get(env, "RACING_API_URL") or DEFAULT_RACING_API_URL
    _check_url("RACING_API_URL", api_url, ("http", "https"))
    username, password = _get(env, "RACING_API_USERNAME"), _get(env, "RACING_API_PASSWORD")
    if bool(username) != bool(password):
        missing = "RACING_API_PASSWORD" if username else "RACING_API_USERNAME"
        raise SettingsError(f"{missing}: must be set together with the other Racing API credential")

    regions = _regions(env)
    poll_intervals = _poll_intervals(env)

    log_level = (_get(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    flower_auth = _get(env, "FLOWER_BASIC_AUTH")
    if flower_auth and not re.fullmatch(r"[^:,]+:[^,]+(,[^:,]+:[^,]+)*", flower_auth):
        raise SettingsError("FLOWER_BASIC_AUTH: expected 'user:password' (comma-separated for several)")

    alert_webhook_url = _get(env, "ALERT_WEBHOOK_URL")
    if alert_webhook_url:
        parts = urlsplit(alert_webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError("ALERT_WEBHOOK_URL: expected http(s)://HOST/PATH, got "
                                f"{mask_webhook(alert_webhook_url)!r}")

    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        result_backend=result_backend,
        racing_api_url=api_url.rstrip("/"),
        racing_api_username=username,
        racing_api_password=password,
        regions=regions,
        rate_limits={
            "racecards": _number(env, "RACING_API_RATE_RACECARDS", 2.0, maximum=1000),
            "results": _number(env, "RACING_API_RATE_RESULTS", 5.0, maximum=1000),
            "odds": _number(env, "RACING_API_RATE_ODDS", 5.0, maximum=1000),
            # /v1/racecards/{race_id}/pro and /v1/results/today: 5/s each in the spec.
            "racecard": _number(env, "RACING_API_RATE_RACECARD", 5.0, maximum=1000),
            "results_today": _number(env, "RACING_API_RATE_RESULTS_TODAY", 5.0, maximum=1000),
        },
        global_rate_limit=int(_number(env, "RACING_API_RATE_PER_10S", 90, int, maximum=10000)),
        **_request_bounds(env),
        poll_intervals=poll_intervals,
        # The API's results start in 2015: more days back than that is a typo.
        historical_catchup_days=int(_number(env, "HISTORICAL_CATCHUP_DAYS", 14, int, maximum=10000)),
        historical_stall_seconds=_number(env, "HISTORICAL_STALL_SECONDS", 300.0),
        historical_resume_seconds=_number(env, "HISTORICAL_RESUME_SECONDS", 60.0),
        historical_retry_seconds=_number(env, "HISTORICAL_RETRY_SECONDS", 30.0),
        live_credentials_backoff=_number(env, "LIVE_CREDENTIALS_BACKOFF_SECONDS", 300.0),
        live_lease_grace=_number(env, "LIVE_LEASE_GRACE_SECONDS", 60.0),
        live_cycle_timeout=_number(env, "LIVE_CYCLE_TIMEOUT_SECONDS", 90.0),
        live_failure_backoff=_number(env, "LIVE_FAILURE_BACKOFF_SECONDS", 30.0),
        live_watchdog_seconds=_number(env, "LIVE_WATCHDOG_SECONDS", 60.0),
        heartbeat_seconds=_number(env, "HEARTBEAT_SECONDS", 2.0),
        heartbeat_dir=_get(env, "HEARTBEAT_DIR") or "var/heartbeat",
        live_off_quiet_seconds=_number(env, "LIVE_OFF_QUIET_SECONDS", 120.0, maximum=3600),
        live_off_cap_minutes=_number(env, "LIVE_OFF_CAP_MINUTES", 30.0, maximum=240),
        stats_output_dir=_get(env, "STATS_OUTPUT_DIR") or "var/stats",
        history_retention_months=int(_number(env, "HISTORY_RETENTION_MONTHS", 0, int, minimum=-1)),
        scheduler_status_dir=_get(env, "SCHEDULER_STATUS_DIR") or "logs",
        log_level=log_level,
        flower_basic_auth=flower_auth,
        alert_webhook_url=alert_webhook_url,
    )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; `.env` in the working directory fills what the environment lacks."""
    load_dotenv(Path.cwd() / ".env", override=False)
    return settings_from_env()


def reset_settings() -> None:
    """Forget the cached settings (tests and the `run` command change the environment)."""
    get_settings.cache_clear()
