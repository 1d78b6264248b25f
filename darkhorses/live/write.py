"""The live write path: compare a cycle's parsed prices with the stored rows and write only
what changed (ra_odds_live_prices), every new price into ra_odds_history, and the races polled.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..db import upsert
from ..models import Bookmaker, LiveRace, OddsHistory, OddsLive
from .digests import race_counts
from .parse import (
    HISTORY_KEY,
    LIVE_KEY,
    OPEN,
    QUOTE_ROW,
    QUOTE_UPDATED,
    UPDATED,
    WHOLE_ROW,
    Card,
    HistoryRow,
    ParsedRace,
    RowStamps,
    earlier_prices,
)
from .stored import Key, StoredRow, read_stored_rows
from .summary import CycleSummary
from .withdrawals import mark_non_runners

log = logging.getLogger(__name__)

class Changes(NamedTuple):
    """A cycle's writes, bucketed by how each is written."""
    new_rows: list[tuple]      # WHOLE_ROW: keys not stored yet, COPYed straight in
    whole_rows: list[tuple]    # WHOLE_ROW: stored keys whose card or book changed
    quote_rows: list[tuple]    # QUOTE_ROW: stored keys whose quote alone changed
    history_rows: list[HistoryRow]


def write_open_races(session: Session, races: list[ParsedRace], now: datetime, summary: CycleSummary,
                     card_hashes: dict[str, str] | None = None,
                     moves: dict[str, datetime] | None = None) -> set[str]:
    """Write the prices that changed; returns the ids of the bookmakers seen. `moves`, when
    given, gets each race's newest price change written (no later than now)."""
    if not races:
        return set()
    race_ids = [r.race_id for r in races]
    live = OddsLive.__table__
    stored = read_stored_rows(session, race_ids)
    mark_non_runners(session, races, stored, now, summary)

    # New rows are COPYed straight in; known keys are one UPDATE … FROM, of the quote's
    # columns alone when nothing else about the row changed.
    changes, bookmakers = Changes([], [], [], []), set[str]()
    for race in races:
        summary.races += 1
        summary.runners += race.runners
        summary.skipped_runners += race.skipped_runners
        summary.skipped_prices += race.skipped_prices
        summary.prices += len(race.prices)
        _bucket_changes(race, stored, now, bookmakers, changes)
        # Earlier prices the API still reports: our own first sight of a price may be late.
        for (horse_id, bookmaker_id), history in race.raw_history.items():
            if (race.race_id, horse_id, bookmaker_id) not in stored:
                changes.history_rows.extend(HistoryRow(**earlier, observed_at=now) for earlier in
                                            earlier_prices(race.race_id, horse_id, bookmaker_id, history))
    summary.bookmakers = len(bookmakers)
    summary.changed = len(changes.new_rows) + len(changes.whole_rows) + len(changes.quote_rows)
    if moves is not None:
        for row in changes.history_rows:
            moved = min(row.changed_at, now)
            if row.race_id not in moves or moves[row.race_id] < moved:
                moves[row.race_id] = moved
    del stored
    _register_unknown_bookmakers(session, races, summary)
    same = {"in_play": False, "fetched_at": now, "updated_at": now}
    upsert(session, live, changes.quote_rows, LIVE_KEY, QUOTE_UPDATED, known=True, columns=QUOTE_ROW, same=same)
    upsert(session, live, changes.whole_rows, LIVE_KEY, UPDATED, known=True, columns=WHOLE_ROW)
    upsert(session, live, changes.new_rows, LIVE_KEY, UPDATED, expect_new=True, columns=WHOLE_ROW)
    # A new price's changed_at is past the stored stamp (_changed_at): its key is new.
    summary.history = upsert(session, OddsHistory.__table__, changes.history_rows, HISTORY_KEY, expect_new=True,
                             columns=HistoryRow._fields)

    card_hashes = card_hashes or {}
    upsert(session, LiveRace.__table__, [
        {"race_id": r.race_id, "race_date": r.values.race_date, "off_dt": r.off_dt,
         "course": r.values.course, "race_name": r.values.race_name, "market_status": OPEN,
         "captures": 0, "first_seen_at": now, "fetched_at": now, "card_digest": card_hashes.get(r.race_id),
         "card_counts": race_counts(r)} for r in races],
        ("race_id",), ("race_date", "off_dt", "course", "race_name", "card_digest", "card_counts"))
    races_table = LiveRace.__table__
    session.execute(update(races_table).where(races_table.c.race_id.in_(race_ids)).values(
        captures=races_table.c.captures + 1, fetched_at=now))
    return bookmakers


def _bucket_changes(race: ParsedRace, stored: dict[Key, StoredRow], now: datetime, bookmakers: set[str],
                    changes: Changes) -> None:
    """Put each changed price of the race in its bucket: new keys whole; known keys whole or,
    when nothing but the quote changed, the quote's columns alone; every new price in history."""
    card = last_runner = None
    for price in race.prices:
        runner, bookmaker_id, quote = price.runner, price.bookmaker_id, price.quote
        bookmakers.add(bookmaker_id)
        if card is None or runner is not last_runner:  # a runner's prices are consecutive and share its tuple
            last_runner, card = runner, Card(race.values, runner.values)
        key = (race.race_id, runner.horse_id, bookmaker_id)
        before = stored.get(key)
        same_card = before is not None and before.card == card and before.book == price.book
        if before is not None and same_card and before.quote == quote:
            continue
        stamp = price.odds_timestamp or now
        if same_card:
            changes.quote_rows.append(key + quote + (stamp,))  # QUOTE_ROW
        else:
            stamps = RowStamps(in_play=False, odds_timestamp=stamp, fetched_at=now, updated_at=now, created_at=now)
            (changes.whole_rows if before is not None else changes.new_rows).append(
                key + card.race + card.runner + price.book + quote + stamps)  # WHOLE_ROW
        if before is None or (before.quote.odds_decimal, before.quote.odds_fractional) != (
                quote.odds_decimal, quote.odds_fractional):
            changes.history_rows.append(HistoryRow(
                race_id=race.race_id, horse_id=runner.horse_id, bookmaker_id=bookmaker_id,
                odds_decimal=quote.odds_decimal, odds_fractional=quote.odds_fractional,
                changed_at=_changed_at(stamp, before, now), observed_at=now))


def _changed_at(stamp: datetime, before: StoredRow | None, now: datetime) -> datetime:
    """When a new price was set: the bookmaker's `updated` stamp, or our own time when the
    stamp did not move past the stored one (a move the bookmaker did not re-stamp would
    otherwise collide with the earlier price's history row and be lost)."""
    if before is not None and before.odds_timestamp is not None and stamp <= before.odds_timestamp:
        return now
    return stamp


_unknown_logged: set[str] = set()


def _register_unknown_bookmakers(session: Session, races: list[ParsedRace], summary: CycleSummary) -> None:
    """Bookmakers outside our list join ra_bookmakers as 'unknown'; each is logged once per process."""
    unknown: dict[str, str] = {}
    for race in races:
        for bookmaker_id, name in race.unknown_bookmakers.items():
            unknown.setdefault(bookmaker_id, name)
    summary.unknown_bookmakers = len(unknown)
    if not unknown:
        return
    rows = [{"bookmaker_id": bookmaker_id, "bookmaker_name": name, "bookmaker_type": "unknown"}
            for bookmaker_id, name in sorted(unknown.items())]
    upsert(session, Bookmaker.__table__, rows, ("bookmaker_id",))
    for bookmaker_id, name in unknown.items():
        if bookmaker_id not in _unknown_logged:
            _unknown_logged.add(bookmaker_id)
            log.warning("bookmaker %r is not in our list: stored as %r (type unknown)", name, bookmaker_id)
