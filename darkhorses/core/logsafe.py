"""API strings made safe to log, and one warning line per batch of alike problems.

A value from the API may carry a newline (a forged log line) or a terminal escape, and a
hostile body may hold millions of bad items: one line each would flood the log.
"""
from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def safe(value: object, limit: int = 200) -> str:
    """`value` as text with control characters escaped (\\x0a) and cut to `limit` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                        else f"\\u{ord(m.group()):04x}", text)


class Tally:
    """Counts skipped items and keeps the first one's reason, for a single summary warning."""

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None

    def add(self, reason: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = safe(reason, 300)

    def warn(self, logger: logging.Logger, what: str) -> None:
        if self.count:
            logger.warning("skipped %d malformed %s (first: %s)", self.count, what, self.first)
