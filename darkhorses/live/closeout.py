"""The close-out: once a race has closed, one /v1/racecards/{race_id}/pro call merges the
bookmakers' history[] moves we did not see between two polls into ra_odds_history, marked
`source = 'closeout'` so analysts can tell them from observed moves.

Idempotent: the API's `changed_at` has minute precision, so a move counts as already stored when
a row of the same runner, bookmaker and price sits in the same minute; a second merge adds
nothing. Run after the cycle's writes, a few races per cycle; a failure (404, junk, the API
down) is recorded on the race and retried on a later cycle, never failing the loop.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core.logsafe import safe
from ..db import session_scope, upsert
from ..models import CLOSEOUT, CloseReason, LiveRace, OddsHistory
from ..racing_api.bookmakers import bookmaker_for
from ..racing_api.values import text
from .offs import single_attempt
from .parse import HISTORY_KEY, earlier_prices
from .summary import CycleSummary

log = logging.getLogger(__name__)

CLOSEOUTS_PER_CYCLE = 3
CLOSEOUT_BUDGET_SECONDS = 3.0   # stop starting close-outs once this much of the cycle went on them
MAX_ATTEMPTS = 6
RETRY_AFTER = timedelta(seconds=60)  # doubled with each failed attempt


class BadCloseout(ValueError):
    """A race card that is not the race asked for, or not a card at all."""


def due(session: Session, now: datetime, limit: int = CLOSEOUTS_PER_CYCLE) -> list[tuple[str, datetime]]:
    """(race_id, closed_at) of closed races whose close-out is due, oldest close first."""
    races = LiveRace.__table__
    rows = session.execute(
        select(races.c.race_id, races.c.closed_at, races.c.closeout_attempts)
        .where(races.c.closed_at.is_not(None), races.c.closeout_at.is_(None),
               races.c.close_reason != CloseReason.ABANDONED, races.c.closeout_attempts < MAX_ATTEMPTS)
        .order_by(races.c.closed_at).limit(limit * 4))
    return [(race_id, closed_at) for race_id, closed_at, attempts in rows
            if now >= closed_at + RETRY_AFTER * (2 ** attempts - 1)][:limit]


def closeout_rows(card, race_id: str, closed_at: datetime) -> list[dict]:
    """Every price the card's bookmakers report for the race (history[] and the current one)
    set at or before the close."""
    if not isinstance(card, dict) or text(card.get("race_id"), 32) != race_id or not isinstance(
            card.get("runners"), list):
        raise BadCloseout(f"race {race_id}: the answer is not that race's card")
    rows: list[dict] = []
    for runner in card["runners"]:
        horse_id = text(runner.get("horse_id"), 32) if isinstance(runner, dict) else None
        odds = runner.get("odds") if horse_id else None
        if not horse_id or not isinstance(odds, list):
            continue
        for quote in odds:
            bookmaker = bookmaker_for(quote.get("bookmaker")) if isinstance(quote, dict) else None
            if bookmaker is None:
                continue
            history = quote.get("history") if isinstance(quote.get("history"), list) else []
            current = {"decimal": quote.get("decimal"), "fractional": quote.get("fractional"),
                       "changed_at": quote.get("updated")}
            rows.extend(r for r in earlier_prices(race_id, horse_id, bookmaker.id, [current, *history])
                        if r["changed_at"] <= closed_at)
    return rows


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def merge(session: Session, race_id: str, rows: list[dict], now: datetime) -> int:
    """Add the moves not stored yet; returns how many were added."""
    h = OddsHistory.__table__
    exact, by_minute = set(), set()
    for horse_id, bookmaker_id, changed_at, price in session.execute(
            select(h.c.horse_id, h.c.bookmaker_id, h.c.changed_at, h.c.odds_decimal).where(h.c.race_id == race_id)):
        exact.add((horse_id, bookmaker_id, changed_at))
        by_minute.add((horse_id, bookmaker_id, _minute(changed_at), round(price, 3)))
    new = {}
    for row in rows:
        key = (row["horse_id"], row["bookmaker_id"], row["changed_at"])
        if key in exact or (row["horse_id"], row["bookmaker_id"], _minute(row["changed_at"]),
                            round(row["odds_decimal"], 3)) in by_minute:
            continue
        new[key] = {**row, "observed_at": now, "source": CLOSEOUT}
    upsert(session, h, list(new.values()), HISTORY_KEY)  # a conflict keeps the stored row
    return len(new)


def run_closeouts(client, now: datetime, summary: CycleSummary, started: float) -> None:
    """The close-outs due this cycle, bounded in number and time."""
    with session_scope() as session:
        races = due(session, now)
    for race_id, closed_at in races:
        if time.monotonic() - started > CLOSEOUT_BUDGET_SECONDS:
            break
        try:
            with single_attempt(client):
                card = client.racecard_pro(race_id)
            rows = closeout_rows(card, race_id, closed_at)
        except Exception as exc:  # noqa: BLE001 - retried on a later cycle; the loop carries on
            error = f"{type(exc).__name__}: {exc}"[:500]
            summary.closeout_failures += 1
            log.warning("close-out of race %s failed (retried later): %s", race_id, safe(error, 300))
            with session_scope() as session:
                session.execute(update(LiveRace.__table__).where(LiveRace.race_id == race_id).values(
                    closeout_attempts=LiveRace.closeout_attempts + 1, closeout_error=error))
            continue
        with session_scope() as session:
            added = merge(session, race_id, rows, now)
            session.execute(update(LiveRace.__table__).where(LiveRace.race_id == race_id).values(
                closeout_at=now, closeout_moves=added, closeout_attempts=LiveRace.closeout_attempts + 1,
                closeout_error=None))
        summary.closeouts += 1
        summary.closeout_moves += added
