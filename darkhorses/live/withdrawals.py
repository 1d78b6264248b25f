"""Non-runners: a runner gone from its card (or priced '-' by every book) leaves the market
once, with its last best price recorded in ra_withdrawals; a runner that comes back is reopened.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..db import upsert
from ..models import LivePrice, Withdrawal
from ..models.views import status_code
from .parse import OPEN, ParsedRace
from .stored import Key, StoredRow
from .summary import CycleSummary

log = logging.getLogger(__name__)

NON_RUNNER = "NON_RUNNER"
OPEN_CODE, NON_RUNNER_CODE = status_code(OPEN), status_code(NON_RUNNER)  # ra_live_prices


def mark_non_runners(session: Session, races: list[ParsedRace], stored: dict[Key, StoredRow], now: datetime,
                     summary: CycleSummary) -> None:
    """Close the live rows of runners gone from their card (or priced '-' by every book), once,
    and record each withdrawal with its last best price; reopen a runner that comes back."""
    by_id = {race.race_id: race for race in races}
    leaving: dict[tuple[str, str], list[StoredRow]] = {}
    back: dict[tuple[str, str], int] = {}  # runner -> its runner key
    for (race_id, horse_id, _), row in stored.items():
        race = by_id[race_id]
        status = row.quote.market_status
        if status == OPEN:
            # A race with a malformed runner cannot tell us who is missing from it.
            if horse_id in race.non_runners or (horse_id not in race.horses and not race.skipped_runners):
                leaving.setdefault((race_id, horse_id), []).append(row)
        elif status == NON_RUNNER and horse_id in race.horses and horse_id not in race.non_runners:
            back[(race_id, horse_id)] = row.runner_key
    for (race_id, horse_id), rows in sorted(leaving.items()):
        prices = [row.quote.odds_decimal for row in rows if row.quote.odds_decimal]
        _withdraw(session, by_id[race_id], horse_id, rows[0], prices, now, summary)
    for (race_id, horse_id), runner_key in sorted(back.items()):
        _reopen(session, by_id[race_id], horse_id, runner_key, now, summary)


def _withdraw(session: Session, race: ParsedRace, horse_id: str, row: StoredRow, prices: list[float], now: datetime,
              summary: CycleSummary) -> None:
    live = LivePrice.__table__
    session.execute(update(live).where(live.c.runner_key == row.runner_key, live.c.market_status_code == OPEN_CODE)
                    .values(market_status_code=NON_RUNNER_CODE, withdrawn_at=now))
    values = {"race_date": race.values.race_date, "horse_name": row.card.runner.horse_name, "withdrawn_at": now,
              "last_price": max(prices) if prices else None, "last_price_books": len(prices),
              "reason": "no_prices" if horse_id in race.horses else "off_card", "reopened_at": None}
    upsert(session, Withdrawal.__table__, [{"race_id": race.race_id, "horse_id": horse_id, **values}],
           ("race_id", "horse_id"), values.keys())
    summary.withdrawn += 1
    log.info("race %s: runner %s withdrawn (%s); last best price %s", race.race_id, horse_id,
             values["reason"], values["last_price"])


def _reopen(session: Session, race: ParsedRace, horse_id: str, runner_key: int, now: datetime,
            summary: CycleSummary) -> None:
    live = LivePrice.__table__
    session.execute(update(live).where(live.c.runner_key == runner_key, live.c.market_status_code == NON_RUNNER_CODE)
                    .values(market_status_code=OPEN_CODE, withdrawn_at=None))
    table = Withdrawal.__table__
    session.execute(update(table).where(table.c.race_id == race.race_id, table.c.horse_id == horse_id)
                    .values(reopened_at=now))
    summary.reopened += 1
    log.warning("race %s: runner %s is back on the card after being withdrawn; reopened (a glitch?)",
                race.race_id, horse_id)
