"""Tattersalls Rule 4(c): the deduction from winning bets struck before a runner was withdrawn,
and the settlement of a win bet with the deductions that apply to it. Pure: no database.

The price the scale is read at: the withdrawn runner's price at the withdrawal. Per bookmaker
that is the bookmaker's own last price for it before `withdrawn_at`; for the race figure (the
one `settle` applies) it is the best price across books just before the withdrawal
(`ra_withdrawals.last_price`): the longest price, so the smallest deduction any of the books
could claim, never an overstatement. An official figure recorded for the withdrawal (a user's,
from the industry's published Rule 4) replaces the estimate (`rule4_estimated` false).
"""
from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import NamedTuple

from .prices import PriceError, from_decimal, parse_price, to_decimal

# The Rule 4(c) scale: (longest price of the row as odds against, deduction in pence in the £).
# Source: Tattersalls Committee, "The Rules on Betting", Rule 4(c), the scale of deductions by
# "the odds current against the withdrawn horse at the time of such official notification":
#   1/9 or longer odds on 90p; 2/11 to 2/17 85p; 1/4 to 1/5 80p; 3/10 to 2/7 75p; 2/5 to 1/3 70p;
#   8/15 to 4/9 65p; 8/13 to 4/7 60p; 4/5 to 4/6 55p; 20/21 to 5/6 50p; evens to 6/5 45p;
#   5/4 to 6/4 40p; 8/5 (13/8) to 7/4 35p; 9/5 (15/8) to 9/4 30p; 12/5 (5/2) to 3/1 25p;
#   16/5 (10/3) to 4/1 20p; 9/2 to 11/2 15p; 6/1 to 9/1 10p; 10/1 to 14/1 5p; over 14/1 none.
# Each row runs from just above the longest price of the row before it (8/5 falls in 35p, as the
# rule's own 8/5, 9/5, 12/5 and 16/5 show), so a row is known by its longest price alone.
SCALE: tuple[tuple[Fraction, int], ...] = (
    (Fraction(1, 9), 90), (Fraction(2, 11), 85), (Fraction(1, 4), 80), (Fraction(3, 10), 75),
    (Fraction(2, 5), 70), (Fraction(8, 15), 65), (Fraction(8, 13), 60), (Fraction(4, 5), 55),
    (Fraction(20, 21), 50), (Fraction(6, 5), 45), (Fraction(3, 2), 40), (Fraction(7, 4), 35),
    (Fraction(9, 4), 30), (Fraction(3), 25), (Fraction(4), 20), (Fraction(11, 2), 15),
    (Fraction(9), 10), (Fraction(14), 5),
)
CAP_PENCE = 90  # several withdrawals add up, to at most 90p in the £
# Stored decimals are rounded to 3 places (2/7 is 1.286): a price this close above a row's
# longest price still belongs to that row. No two ladder prices are this close.
_ROUNDING = Fraction(1, 1000)


def deduction_pence(odds: Fraction) -> int:
    """Pence in the £ deducted for a runner withdrawn at `odds` (odds against, 5/2 -> 2.5)."""
    if odds <= 0:
        raise PriceError(f"price {odds}: outside the Rule 4 scale (odds must be above zero)")
    for longest, pence in SCALE:
        if odds <= longest + _ROUNDING:
            return pence
    return 0


class Withdrawal(NamedTuple):
    """One withdrawn runner of a race, as Rule 4 sees it."""
    horse_id: str
    horse_name: str | None
    withdrawn_at: datetime
    price: float | None  # decimal, the best across books just before the withdrawal
    official_pence: int | None = None  # an official figure recorded by a user
    new_market: bool = True  # a new market formed after it (SP bets then carry no deduction)

    @property
    def estimated_pence(self) -> int | None:
        return None if self.price is None else deduction_pence(from_decimal(self.price))

    @property
    def pence(self) -> int:
        """The deduction applied: the official figure, else the estimate; a withdrawal with no
        price is an error (settle cannot guess it)."""
        if self.official_pence is not None:
            return self.official_pence
        estimated = self.estimated_pence
        if estimated is None:
            raise PriceError(f"withdrawal of {self.horse_name or self.horse_id}: no price recorded at the "
                             "withdrawal, so no Rule 4 estimate; record the official figure")
        return estimated


class RaceRule4Row(NamedTuple):
    horse_id: str
    horse_name: str | None
    withdrawn_at: datetime
    price: float | None
    deduction_pence: int | None
    running_total_pence: int | None
    rule4_estimated: bool


def race_deductions(withdrawals: list[Withdrawal]) -> list[RaceRule4Row]:
    """Each withdrawal in order with its deduction and the race's running total (capped at
    90p). A withdrawal with neither price nor official figure has no deduction and leaves the
    running total unknown from there on."""
    rows, total = [], 0
    known = True
    for w in sorted(withdrawals, key=lambda w: (w.withdrawn_at, w.horse_id)):
        try:
            pence: int | None = w.pence
        except PriceError:
            pence, known = None, False
        if pence is not None:
            total = min(CAP_PENCE, total + pence)
        rows.append(RaceRule4Row(horse_id=w.horse_id, horse_name=w.horse_name, withdrawn_at=w.withdrawn_at,
                                 price=w.price, deduction_pence=pence,
                                 running_total_pence=total if known else None,
                                 rule4_estimated=w.official_pence is None))
    return rows


class RaceResult(NamedTuple):
    """What settle needs of a race: its withdrawals and its result."""
    race_id: str
    withdrawals: tuple[Withdrawal, ...] = ()
    positions: dict[str, str] | None = None  # horse_id -> finishing position as published
    starting_prices: dict[str, float] | None = None  # horse_id -> industry SP (decimal)


class Settlement(NamedTuple):
    price: float  # decimal odds the bet was settled at
    stake: float
    deduction_pence: int
    applied: tuple[str, ...]  # the withdrawals whose deductions apply, by name (or id)
    won: bool | None  # None: no result given (the figures are those of a winner)
    dead_heat: int  # runners sharing first place (1: no dead heat)
    winnings: float  # profit after Rule 4 (and the dead-heat rule)
    returned: float  # stake back plus winnings (0 for a loser)
    void: bool = False  # a bet on a runner that was withdrawn: the stake back


SP = "SP"


def settle(price: float | str, stake: float, struck_at: datetime | None, race: RaceResult,
           horse_id: str | None = None) -> Settlement:
    """The return of a win bet of `stake` on `horse_id` at `price` (decimal, fractional text,
    or 'SP'), struck at `struck_at`. An early price carries the deductions of every withdrawal
    after `struck_at`; an SP bet those of withdrawals no new market formed after. Rule 4 comes
    off the winnings, never the stake. Without `horse_id` the figures are those of a winner."""
    if not stake > 0:
        raise ValueError(f"stake {stake!r}: expected an amount above zero")
    if horse_id is not None and any(w.horse_id == horse_id for w in race.withdrawals):
        # A bet on a non-runner is void: the stake comes back, nothing else.
        return Settlement(price=0.0, stake=stake, deduction_pence=0, applied=(), won=None, dead_heat=1,
                          winnings=0.0, returned=stake, void=True)
    if isinstance(price, str) and price.strip().upper() == SP:
        sp = (race.starting_prices or {}).get(horse_id or "")
        if sp is None:
            raise PriceError(f"no starting price for {horse_id or 'the runner'} in race {race.race_id}")
        decimal, applies = float(sp), [w for w in race.withdrawals if not w.new_market]
    else:
        if struck_at is None:
            raise ValueError("an early price needs the time the bet was struck")
        odds = parse_price(price) if isinstance(price, str) else from_decimal(price)
        decimal = float(price) if isinstance(price, (int, float)) else to_decimal(odds)
        applies = [w for w in race.withdrawals if w.withdrawn_at > struck_at and w.horse_id != horse_id]
    pence = min(CAP_PENCE, sum(w.pence for w in applies))
    won, dead_heat = _result(race, horse_id)
    share = stake / dead_heat
    winnings = round(share * (decimal - 1) * (100 - pence) / 100, 2)
    returned = round(share + winnings, 2) if won is not False else 0.0
    return Settlement(price=decimal, stake=stake, deduction_pence=pence,
                      applied=tuple(w.horse_name or w.horse_id for w in sorted(applies, key=lambda w: w.withdrawn_at)),
                      won=won, dead_heat=dead_heat, winnings=winnings if won is not False else 0.0,
                      returned=returned)


def _result(race: RaceResult, horse_id: str | None) -> tuple[bool | None, int]:
    if horse_id is None or race.positions is None:
        return None, 1
    first = [h for h, position in race.positions.items() if _first(position)]
    if horse_id not in first:
        return False, 1
    return True, len(first)


def _first(position: str | None) -> bool:
    return (position or "").strip().lstrip("=") in ("1", "1=")
