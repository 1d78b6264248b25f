"""Error tracking: SENTRY_DSN turns on sentry-sdk with its Celery integration; unset, nothing runs.

Started in the worker (`celeryd_init`), in beat (`beat_init`, where the integration also
reports each scheduled task as a Sentry cron monitor) and in the embedded `run`. Every event
passes `scrub` before it leaves the process: the Racing API password and username, the
passwords in the database and broker URLs, Flower's login, the alert webhook and the DSN
itself are replaced wherever they appear (messages, stack-frame variables, breadcrumbs).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.settings import Settings

log = logging.getLogger(__name__)
FILTERED = "[Filtered]"
# user:password@ in any URL-looking text: masked even when the password is not one we know.
_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]+@", re.IGNORECASE)
_SECRET_KEYS = re.compile(r"pass|secret|token|auth|dsn|cookie|credential", re.IGNORECASE)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold, longest first (so a longer one is replaced whole)."""
    values: list[str | None] = [settings.racing_api_password, settings.racing_api_username,
                                settings.database_url, settings.broker_url, settings.result_backend,
                                settings.alert_webhook_url, settings.sentry_dsn]
    for url in (settings.database_url, settings.broker_url, settings.result_backend, settings.sentry_dsn):
        parts = urlsplit(url or "")
        values += [parts.password, unquote(parts.password) if parts.password else None]
        if url == settings.sentry_dsn:
            values.append(parts.username)  # the DSN's public key
    for login in (settings.flower_basic_auth or "").split(","):
        values.append(login.partition(":")[2] or None)
    if settings.alert_webhook_url:
        values.append(urlsplit(settings.alert_webhook_url).path)
    # Short values would scrub ordinary words ("sim", a one-letter user): a secret has length.
    return sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)


def _clean_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, FILTERED)
    return _URL_CREDENTIALS.sub(r"\1:" + FILTERED + "@", text)


def scrub(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret replaced, walked through dicts, lists and tuples; values
    under keys that name a secret (password, token, auth, ...) are replaced whole."""
    if isinstance(value, str):
        return _clean_text(value, secrets)
    if isinstance(value, dict):
        return {key: (FILTERED if isinstance(key, str) and _SECRET_KEYS.search(key) and isinstance(item, str)
                      else scrub(item, secrets)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(item, secrets) for item in value)
    return value


def start(settings: Settings, where: str) -> bool:
    """Initialise sentry-sdk in this process when SENTRY_DSN is set; whether it was."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    secrets = secrets_of(settings)

    def before_send(event, hint):
        return scrub(event, secrets)

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        send_default_pii=False,
        traces_sample_rate=0.0,
        # Errors logged (a failed cycle, a date given up) become events; INFO lines breadcrumbs.
        integrations=[CeleryIntegration(monitor_beat_tasks=True, propagate_traces=False),
                      LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        before_send=before_send,
        before_breadcrumb=lambda crumb, hint: scrub(crumb, secrets),
    )
    log.info("error tracking on (%s): events to %s", where, urlsplit(settings.sentry_dsn).hostname)
    return True
