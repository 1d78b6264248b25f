"""What the market did per runner: best prices now, opening and closing lines, withdrawals.

Opening and closing come from our own captures in ra_odds_history, so they say what a
punter could have had from us: the opening is the best price across books at the first
capture that priced the runner, the closing the best at the last capture before the race
closed (it went off: darkhorses/live/offs.py), or before the scheduled off for a race closed
before the loop knew better. Moves back-filled by the close-out are not captures: left out.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import upsert
from ..models import OBSERVED, LiveRace, MarketLine, OddsHistory, OddsLive, Withdrawal


def best_prices(session: Session, race_id: str) -> dict[str, float]:
    """Best (highest) current decimal price per runner of a race; non-runners are left out."""
    live = OddsLive.__table__
    return dict(session.execute(
        select(live.c.horse_id, func.max(live.c.odds_decimal))
        .where(live.c.race_id == race_id, live.c.market_status != "NON_RUNNER", live.c.odds_decimal > 1)
        .group_by(live.c.horse_id)).all())


def _book_prices(rows, until: datetime) -> dict[str, float]:
    """Each bookmaker's latest price seen at or before `until`. Rows are (bookmaker, price,
    changed_at, observed_at); the API's earlier prices arrive with the current one, so among
    rows seen together the newest `changed_at` is the price on offer."""
    latest: dict[str, tuple] = {}
    for book, price, changed_at, observed_at in rows:
        if observed_at <= until and (book not in latest or (observed_at, changed_at) > latest[book][:2]):
            latest[book] = (observed_at, changed_at, price)
    return {book: value[2] for book, value in latest.items()}


def lines_for(session: Session, runners: list[dict]) -> list[dict]:
    """ra_market_lines rows for finished runners (dicts with race_id, horse_id, race_date,
    off_dt, industry_sp, betfair_sp): null prices for a runner we never captured."""
    race_ids = sorted({r["race_id"] for r in runners})
    if not race_ids:
        return []
    h = OddsHistory.__table__
    captured: dict[tuple[str, str], list] = {}
    for race_id, horse_id, *row in session.execute(
            select(h.c.race_id, h.c.horse_id, h.c.bookmaker_id, h.c.odds_decimal, h.c.changed_at, h.c.observed_at)
            .where(h.c.race_id.in_(race_ids), h.c.source == OBSERVED)):
        captured.setdefault((race_id, horse_id), []).append(row)
    last_check, closed_at = {}, {}
    for race_id, fetched_at, closed in session.execute(
            select(LiveRace.race_id, LiveRace.fetched_at, LiveRace.closed_at).where(LiveRace.race_id.in_(race_ids))):
        last_check[race_id], closed_at[race_id] = fetched_at, closed
    lines = []
    for runner in runners:
        closed = closed_at.get(runner["race_id"])
        # Captures up to the close (inclusive: the closing cycle's own capture), else before the scheduled off.
        off = closed + timedelta(microseconds=1) if closed is not None else runner.get("off_dt")
        rows = [r for r in captured.get((runner["race_id"], runner["horse_id"]), ()) if off is None or r[3] < off]
        line = {"race_id": runner["race_id"], "horse_id": runner["horse_id"], "race_date": runner["race_date"],
                "opening_price": None, "opening_at": None, "closing_price": None, "closing_at": None,
                "closing_books": None, "industry_sp": runner.get("industry_sp"),
                "betfair_sp": runner.get("betfair_sp")}
        if rows:
            opened = min(r[3] for r in rows)
            closed = max(r[3] for r in rows)
            checked = last_check.get(runner["race_id"])
            if checked is not None and checked > closed and (off is None or checked < off):
                closed = checked  # prices unchanged since: the last capture still offered them
            opening, closing = _book_prices(rows, opened), _book_prices(rows, closed)
            best = max(closing.values())
            line.update(opening_price=max(opening.values()), opening_at=opened, closing_price=best,
                        closing_at=closed, closing_books=sum(price == best for price in closing.values()))
        lines.append(line)
    return lines


def record_lines(session: Session, runners: list[dict], now: datetime) -> int:
    """Write (or rewrite) the opening and closing lines of finished runners."""
    rows = [{**line, "updated_at": now} for line in lines_for(session, runners)]
    return upsert(session, MarketLine.__table__, rows, ("race_id", "horse_id"),
                  [c for c in (rows[0] if rows else {}) if c not in ("race_id", "horse_id")])


def withdrawals_on(session: Session, day: date) -> list[dict]:
    """The non-runners of a UK race date, in the order we saw them go."""
    w = Withdrawal.__table__
    race = LiveRace.__table__
    return [dict(row) for row in session.execute(
        select(w.c.race_id, w.c.horse_id, w.c.horse_name, w.c.withdrawn_at, w.c.last_price, w.c.last_price_books,
               w.c.reason, w.c.reopened_at, race.c.course, race.c.off_dt)
        .select_from(w.outerjoin(race, race.c.race_id == w.c.race_id))
        .where(w.c.race_date == day).order_by(w.c.withdrawn_at, w.c.race_id, w.c.horse_id)).mappings()]
