"""Returns to 1 unit at SP: win, place and each-way under the standard UK/IRE each-way terms,
dead-heat rules, and the SP favourite rank. Pure functions, no I/O."""
from __future__ import annotations

import re

_POSITION = re.compile(r"^\s*(\d+)\s*$")


def place_terms(field_size: int, handicap: bool) -> tuple[int, float] | None:
    """(places paid, fraction of the win odds) under the standard UK/IRE each-way terms,
    or None when a race of that size pays win only."""
    if field_size < 5:
        return None
    if field_size < 8:
        return 2, 1 / 4
    if handicap and field_size >= 16:
        return 4, 1 / 4
    if handicap and field_size >= 12:
        return 3, 1 / 4
    return 3, 1 / 5


def _dead_heat_share(position: int, tied: int, places: int) -> float:
    """Fraction of the stake that wins when `tied` runners share `position` and `places`
    positions pay: the paying places left from `position`, split between the tied runners."""
    paying = max(0, min(tied, places - position + 1))
    return paying / tied


def compute_returns(position: str | None, sp: float | None, tied: int, field_size: int,
                    handicap: bool) -> tuple[float | None, float | None, float | None]:
    """(win, place, each-way) returns, stake included, to 1 unit at SP.

    Each-way is 1 unit win plus 1 unit place (2 staked). Without place terms (under five
    runners) there is no place return and each-way is 2 units on the win.
    """
    if sp is None:
        return None, None, None
    match = _POSITION.match(position or "")
    finish = int(match.group(1)) if match and int(match.group(1)) > 0 else None
    win = sp * _dead_heat_share(finish, tied, 1) if finish else 0.0
    terms = place_terms(field_size, handicap)
    if terms is None:
        return round(win, 4), None, round(2 * win, 4)
    places, fraction = terms
    place_odds = 1 + (sp - 1) * fraction
    place = place_odds * _dead_heat_share(finish, tied, places) if finish else 0.0
    return round(win, 4), round(place, 4), round(win + place, 4)


def favourite_ranks(sps: dict[str, float | None]) -> dict[str, int]:
    """SP favourite rank per horse; joint favourites share a rank (dense ranking)."""
    distinct = sorted({sp for sp in sps.values() if sp is not None})
    rank = {sp: index + 1 for index, sp in enumerate(distinct)}
    return {horse: rank[sp] for horse, sp in sps.items() if sp is not None}
