"""Fractional prices as bookmakers quote them, read exactly (Python's Fraction): 'EVS', '1/1',
'100/30', '11/8'. Anything else is a PriceError whose text is the one line to show."""
from __future__ import annotations

import re
from fractions import Fraction

_FRACTION = re.compile(r"^(\d{1,4})\s*/\s*(\d{1,4})$")
_EVENS = {"evs", "evens", "even", "evn", "ev"}
# Favourite markers an SP may carry: '2/1F', '7/2JF', '5/1CF'.
_FAVOURITE = re.compile(r"\s*(JF|CF|F)$", re.IGNORECASE)


class PriceError(ValueError):
    """A price that cannot be read; str() is one line naming it."""


def parse_fractional(text: str) -> Fraction:
    """The odds against as a fraction: '5/2' -> 5/2, 'EVS' -> 1, '100/30' -> 10/3."""
    if not isinstance(text, str):
        raise PriceError(f"price {text!r}: expected fractional odds such as 5/2 or EVS")
    cleaned = _FAVOURITE.sub("", " ".join(text.split())).lower()
    if cleaned in _EVENS:
        return Fraction(1)
    match = _FRACTION.match(cleaned)
    if not match:
        raise PriceError(f"price {text!r}: expected fractional odds such as 5/2 or EVS")
    numerator, denominator = int(match.group(1)), int(match.group(2))
    if numerator == 0 or denominator == 0:
        raise PriceError(f"price {text!r}: odds must be above zero (n/d with n, d > 0)")
    return Fraction(numerator, denominator)


def parse_price(text: str) -> Fraction:
    """A price as fractional odds ('5/2', 'EVS') or decimal odds stake included ('3.5'); the
    odds against as a fraction either way ('3.5' -> 5/2)."""
    cleaned = text.strip() if isinstance(text, str) else text
    if isinstance(cleaned, str) and re.fullmatch(r"\d{1,4}(\.\d{1,4})?", cleaned):
        return from_decimal(float(cleaned))
    return parse_fractional(text)


def from_decimal(decimal: float) -> Fraction:
    """Decimal odds (stake included) as the odds against: 3.5 -> 5/2. Decimals are stored
    rounded (numeric(10,3)), so 2/7 arrives as 1.286: the nearest fraction with a denominator
    of at most 200 is taken, which gives back every price on a bookmaker's ladder."""
    if not isinstance(decimal, (int, float)) or not decimal > 1.0 or decimal != decimal:
        raise PriceError(f"decimal price {decimal!r}: expected a number above 1.0")
    return Fraction(decimal - 1).limit_denominator(200)


def to_decimal(odds: Fraction) -> float:
    return round(float(1 + odds), 4)


def to_text(odds: Fraction) -> str:
    """'EVS' for evens, '100/30' kept as '10/3' (the same price), else 'n/d'."""
    return "EVS" if odds == 1 else f"{odds.numerator}/{odds.denominator}"
