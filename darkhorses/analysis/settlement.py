"""Rule 4 from the database: a race's withdrawals (ra_withdrawals) with each bookmaker's price
at the withdrawal (the withdrawn runner's last live row, in ra_odds_live), official figures
(ra_rule4_official) and the result (ra_odds_historical), for rule4.settle and the CLI."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..models import OddsHistorical, OddsHistory, OddsLive, Rule4Official, Withdrawal
from .prices import PriceError, from_decimal, parse_fractional
from .rule4 import RaceResult, deduction_pence, race_deductions
from .rule4 import Withdrawal as Rule4Withdrawal


class RaceNotFound(LookupError):
    """No withdrawal and no result recorded for the race; str() is the one line to show."""


def load_race(session: Session, race_id: str) -> RaceResult:
    """The race's withdrawals (those that came back left out), official figures and result."""
    official = dict(session.execute(select(Rule4Official.horse_id, Rule4Official.deduction_pence)
                                    .where(Rule4Official.race_id == race_id)).all())
    later = OddsHistory.__table__
    withdrawals = []
    for w in session.execute(select(Withdrawal).where(Withdrawal.race_id == race_id,
                                                      Withdrawal.reopened_at.is_(None))).scalars():
        # A new market formed after it when any other runner's price moved afterwards.
        new_market = session.execute(select(exists().where(
            later.c.race_id == race_id, later.c.horse_id != w.horse_id,
            later.c.changed_at > w.withdrawn_at))).scalar()
        withdrawals.append(Rule4Withdrawal(horse_id=w.horse_id, horse_name=w.horse_name, withdrawn_at=w.withdrawn_at,
                                           price=w.last_price, official_pence=official.get(w.horse_id),
                                           new_market=bool(new_market)))
    results = session.execute(select(OddsHistorical.horse_id, OddsHistorical.finishing_position,
                                      OddsHistorical.industry_sp).where(OddsHistorical.race_id == race_id)).all()
    if not withdrawals and not results:
        raise RaceNotFound(f"race {race_id}: no withdrawal and no result recorded")
    return RaceResult(race_id=race_id, withdrawals=tuple(withdrawals),
                      positions={h: p or "" for h, p, _ in results if h} if results else None,
                      starting_prices={h: sp for h, _, sp in results if h and sp is not None})


class BookmakerPrice(NamedTuple):
    bookmaker_id: str
    odds_fractional: str | None
    odds_decimal: float | None
    deduction_pence: int | None  # what this book's own price would give


def bookmaker_prices(session: Session, race_id: str, horse_id: str) -> list[BookmakerPrice]:
    """Each bookmaker's last price for a withdrawn runner (its live row, closed at the withdrawal)."""
    live = OddsLive.__table__
    prices = []
    for bookmaker_id, fractional, decimal in session.execute(
            select(live.c.bookmaker_id, live.c.odds_fractional, live.c.odds_decimal)
            .where(live.c.race_id == race_id, live.c.horse_id == horse_id).order_by(live.c.bookmaker_id)):
        try:
            odds = parse_fractional(fractional) if fractional else from_decimal(decimal)
            pence: int | None = deduction_pence(odds)
        except PriceError:
            try:
                pence = deduction_pence(from_decimal(decimal)) if decimal else None
            except PriceError:
                pence = None
        prices.append(BookmakerPrice(bookmaker_id, fractional, decimal, pence))
    return prices


def race_rule4(session: Session, race_id: str) -> list[dict]:
    """Per withdrawal of the race: its deduction, the running total (capped at 90p),
    rule4_estimated, and every bookmaker's price at the withdrawal."""
    race = load_race(session, race_id)
    return [{**row._asdict(), "withdrawn_at": row.withdrawn_at.isoformat(),
             "bookmakers": [p._asdict() for p in bookmaker_prices(session, race_id, row.horse_id)]}
            for row in race_deductions(list(race.withdrawals))]
