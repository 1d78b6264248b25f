"""Parsing the API's strings: prices, numbers and times, with its documented quirks.

Every function returns None for a value it cannot read; callers count those.
"""
from __future__ import annotations

import functools
import re
from datetime import date, datetime, timezone

from ..core.clock import UK

_FRACTION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")
_EVENS = {"evens", "evs", "even", "evn"}
# Favourite markers the API appends to an SP: "2/1F", "7/2JF", "5/1CF".
_SP_SUFFIX = re.compile(r"\s*(JF|CF|F)\s*$", re.IGNORECASE)
# Decimal odds above this are a data error, not a price (Betfair's ceiling is 1000).
MAX_DECIMAL = 1001.0


def fractional_to_decimal(text) -> float | None:
    if not isinstance(text, str):
        return None
    cleaned = text.strip().lower()
    if cleaned in _EVENS:
        return 2.0
    match = _FRACTION.match(cleaned)
    if not match:
        return None
    numerator, denominator = float(match.group(1)), float(match.group(2))
    if denominator == 0 or numerator <= 0:
        return None
    return round(1 + numerator / denominator, 4)


def parse_price(decimal_text, fractional_text=None) -> float | None:
    """Decimal odds from the API's pair of strings, or None for '-', 'SP', '' and junk."""
    if isinstance(decimal_text, str) and decimal_text.strip().lower() in _EVENS:
        return 2.0
    value = to_float(decimal_text)
    if value is None:
        value = fractional_to_decimal(fractional_text)
    if value is None or not (1.0 < value <= MAX_DECIMAL):
        return None
    return value


def parse_sp(sp_text, sp_dec_text=None) -> tuple[float | None, str | None]:
    """(decimal SP, fractional text without favourite marker) from a result's sp/sp_dec."""
    fractional = _SP_SUFFIX.sub("", sp_text).strip() if isinstance(sp_text, str) else None
    value = parse_price(sp_dec_text, fractional)
    return value, (fractional or None)


def to_float(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if result == result and result not in (float("inf"), float("-inf")) else None


def to_int(value) -> int | None:
    number = to_float(value)
    return int(number) if number is not None and number.is_integer() and abs(number) < 2**31 else None


def text(value, limit: int) -> str | None:
    """A string column value: stripped, None when empty, cut to the column's width."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    # PostgreSQL text cannot hold NUL: one in a name would fail the whole batch.
    result = str(value).replace("\x00", "").strip()
    return result[:limit] or None


def parse_timestamp(value) -> datetime | None:
    """An ISO 8601 time as aware UTC; a time without an offset is UK local time."""
    if not isinstance(value, str) or not value.strip():
        return None
    return _parse_timestamp(value)


@functools.lru_cache(maxsize=4096)  # a racecard repeats the same few `updated` stamps
def _parse_timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UK)
    return parsed.astimezone(timezone.utc)


def parse_date(value) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
