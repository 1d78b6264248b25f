"""Same-day results: a result seen in /v1/results/today is stored then, so analysts can settle
today's bets tonight. Its rows are marked `provisional` in ra_odds_historical and the date
`provisional` in the ledger: never complete; the 01:00 job collects the date as before, which
rewrites the rows (provisional = false) and removes whatever the final results no longer hold.

The live loop calls `store_same_day` (passed in by the task: historical sits above live).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from ..core.clock import day_start
from ..db import session_scope, upsert
from ..live.market import record_lines
from ..models import LEDGER_DONE, CollectionLedger, LedgerStatus, OddsHistorical
from .collect import HISTORICAL_KEY, _attach_captured_prices
from .ledger import update as ledger_update
from .mapping import map_results

log = logging.getLogger(__name__)


def store_same_day(results: list[dict], now: datetime) -> int:
    """Store the results of races not stored yet as provisional rows; returns the runners stored.
    A race already stored (provisional or settled) is left to the daily job: nothing twice."""
    mapped = map_results(results)
    if not mapped.rows:
        return 0
    table = OddsHistorical.__table__
    with session_scope() as session:
        race_ids = sorted({row["race_id"] for row in mapped.rows})
        stored = set(session.execute(select(table.c.race_id).distinct().where(table.c.race_id.in_(race_ids)))
                     .scalars())
        rows = [row for row in mapped.rows if row["race_id"] not in stored]
        if not rows:
            return 0
        _attach_captured_prices(session, rows)
        for row in rows:
            row["created_at"] = row["updated_at"] = now
            row["provisional"] = True
        upsert(session, table, rows, HISTORICAL_KEY, [c for c in rows[0] if c not in HISTORICAL_KEY + ("created_at",)])
        record_lines(session, [{"race_id": r["race_id"], "horse_id": r["horse_id"],
                                "race_date": r["date_of_race"].date(), "off_dt": r["match_timestamp"],
                                "industry_sp": r["industry_sp"], "betfair_sp": r["betfair_sp"]} for r in rows], now)
        for day in sorted({row["date_of_race"].date() for row in rows}):
            current = session.get(CollectionLedger, day)
            if current is not None and current.status in LEDGER_DONE:
                continue
            races, runners = session.execute(
                select(func.count(func.distinct(table.c.race_id)), func.count())
                .where(table.c.date_of_race == day_start(day), table.c.provisional.is_(True))).one()
            ledger_update(session, day, status=LedgerStatus.PROVISIONAL, races=races, runners=runners)
    log.info("same-day results: %d runners of %d races stored as provisional", len(rows),
             len({row["race_id"] for row in rows}))
    return len(rows)
