"""The live write path: compare a cycle's parsed prices with the stored ones and write only what
changed: a race's facts once per race and a runner's once per runner (when the card changed),
new prices COPYed into ra_live_prices and changed quotes by one UPDATE … FROM; every new price
into ra_odds_moves (the view ra_odds_history), and the races polled.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..db import upsert
from ..db.upsert import unique_by_key
from ..models import (
    OBSERVED,
    Bookmaker,
    BookmakerKey,
    LiveBookFacts,
    LivePrice,
    LiveRace,
    LiveRaceFacts,
    LiveRunner,
    LiveRunnerFacts,
    OddsMove,
)
from ..models.views import PRICE_SCALE, RACE_FACTS, RUNNER_FACTS, SOURCES, status_code
from .digests import race_counts
from .parse import HISTORY_KEY, OPEN, BookValues, HistoryRow, ParsedRace, earlier_prices
from .stored import RunnerId, Stored, StoredRow, read_book_keys, read_bookmaker_keys, read_stored
from .summary import CycleSummary
from .withdrawals import mark_non_runners

log = logging.getLogger(__name__)

PRICE_KEY = ("runner_key", "bookmaker_key")
QUOTE_COLUMNS = ("book_facts_key", "odds_x10000", "odds_fractional", "ew_places", "ew_denom", "market_status_code",
                 "odds_timestamp")
KNOWN_PRICE = PRICE_KEY + QUOTE_COLUMNS  # a stored price whose quote (or bookmaker's name) changed
NEW_PRICE = KNOWN_PRICE + ("in_play", "fetched_at", "updated_at", "created_at")  # a price not stored yet
# What a new price overwrites when its key turns out to be stored after all (a concurrent cycle).
PRICE_UPDATED = QUOTE_COLUMNS + ("in_play", "fetched_at", "updated_at")
RACE_FACTS_ROW = ("race_id",) + RACE_FACTS
RUNNER_FACTS_ROW = ("runner_key",) + RUNNER_FACTS


class Changes(NamedTuple):
    """A cycle's writes, bucketed by how each is written."""
    race_facts: list[tuple]    # RACE_FACTS_ROW: races new or whose card's race values changed
    runner_facts: list[tuple]  # RUNNER_FACTS_ROW: runners new or whose card's runner values changed
    new_prices: list[tuple]    # NEW_PRICE: keys not stored yet, COPYed straight in
    known_prices: list[tuple]  # KNOWN_PRICE: stored keys whose quote or bookmaker's name changed
    history_rows: list[HistoryRow]


def write_open_races(session: Session, races: list[ParsedRace], now: datetime, summary: CycleSummary,
                     card_hashes: dict[str, str] | None = None,
                     moves: dict[str, datetime] | None = None) -> set[str]:
    """Write the prices that changed; returns the ids of the bookmakers seen. `moves`, when
    given, gets each race's newest price change written (no later than now)."""
    if not races:
        return set()
    race_ids = [r.race_id for r in races]
    stored = read_stored(session, race_ids)
    mark_non_runners(session, races, stored.rows, now, summary)
    _number_new(session, races, stored)

    changes, bookmakers = Changes([], [], [], [], []), set[str]()
    for race in races:
        summary.races += 1
        summary.runners += race.runners
        summary.skipped_runners += race.skipped_runners
        summary.skipped_prices += race.skipped_prices
        summary.prices += len(race.prices)
        _bucket_changes(race, stored, now, bookmakers, changes)
        # Earlier prices the API still reports: our own first sight of a price may be late.
        for (horse_id, bookmaker_id), history in race.raw_history.items():
            if (race.race_id, horse_id, bookmaker_id) not in stored.rows:
                changes.history_rows.extend(HistoryRow(**earlier, observed_at=now) for earlier in
                                            earlier_prices(race.race_id, horse_id, bookmaker_id, history))
    summary.bookmakers = len(bookmakers)
    summary.changed = len(changes.new_prices) + len(changes.known_prices)
    if moves is not None:
        for row in changes.history_rows:
            moved = min(row.changed_at, now)
            if row.race_id not in moves or moves[row.race_id] < moved:
                moves[row.race_id] = moved
    runner_keys, bookmaker_keys = stored.runner_keys, stored.bookmaker_keys
    del stored
    _register_unknown_bookmakers(session, races, summary)
    upsert(session, LiveRaceFacts.__table__, changes.race_facts, ("race_id",), RACE_FACTS, columns=RACE_FACTS_ROW)
    upsert(session, LiveRunnerFacts.__table__, changes.runner_facts, ("runner_key",), RUNNER_FACTS,
           columns=RUNNER_FACTS_ROW)
    prices = LivePrice.__table__
    upsert(session, prices, changes.known_prices, PRICE_KEY, QUOTE_COLUMNS, known=True, columns=KNOWN_PRICE,
           same={"in_play": False, "fetched_at": now, "updated_at": now})
    new_prices, new_columns = _with_ids(session, changes.new_prices)
    upsert(session, prices, new_prices, PRICE_KEY, PRICE_UPDATED, expect_new=True, columns=new_columns)
    # A new price's changed_at is past the stored stamp (_changed_at): its key is new.
    summary.history = write_history(session, changes.history_rows, runner_keys=runner_keys,
                                    bookmaker_keys=bookmaker_keys)

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


def _number_new(session: Session, races: list[ParsedRace], stored: Stored) -> None:
    """Runner keys, bookmaker keys and book facts keys for every price of the cycle: the stored
    ones, and new ones numbered here (a runner, bookmaker or bookmaker's name seen first)."""
    runners: set[RunnerId] = set()
    books: set[BookValues] = set()
    last_runner = None
    for race in races:
        for price in race.prices:
            if price.runner is not last_runner:  # a runner's prices are consecutive and share its tuple
                last_runner = price.runner
                runners.add((race.race_id, price.runner.horse_id))
            books.add(price.book)
    if runners - stored.runner_keys.keys():
        stored.runner_keys.update(_runner_keys(session, runners - stored.runner_keys.keys()))
    bookmaker_ids = {price.bookmaker_id for race in races for price in race.prices}
    if bookmaker_ids - stored.bookmaker_keys.keys():
        stored.bookmaker_keys.update(_bookmaker_keys(session, bookmaker_ids))
    missing_books = sorted(books - stored.book_keys.keys())
    if missing_books:
        upsert(session, LiveBookFacts.__table__, missing_books, BookValues._fields, columns=BookValues._fields)
        stored.book_keys = read_book_keys(session)


def _with_ids(session: Session, rows: list[tuple]) -> tuple[list[tuple], tuple[str, ...]]:
    """New prices as written: on PostgreSQL the id comes from its identity; SQLite has none, so
    each row gets one past the largest (one writer at a time there)."""
    if not rows or session.get_bind().dialect.name == "postgresql":
        return rows, NEW_PRICE
    prices = LivePrice.__table__
    largest = session.execute(select(func.coalesce(func.max(prices.c.id), 0))).scalar_one()
    return [(largest + number,) + row for number, row in enumerate(rows, start=1)], ("id",) + NEW_PRICE


def _bucket_changes(race: ParsedRace, stored: Stored, now: datetime, bookmakers: set[str], changes: Changes) -> None:
    """Put each change of the race in its bucket: its facts when its card's race values changed,
    a runner's when its runner values did; new prices whole; stored ones whose quote (or
    bookmaker's name) changed by their quote's columns; every new price in history."""
    if stored.race_facts.get(race.race_id) != race.values:
        changes.race_facts.append((race.race_id,) + race.values)
    last_runner = runner_key = None
    for price in race.prices:
        runner, bookmaker_id, quote = price.runner, price.bookmaker_id, price.quote
        bookmakers.add(bookmaker_id)
        if runner is not last_runner:  # a runner's prices are consecutive and share its tuple
            last_runner = runner
            runner_key = stored.runner_keys[(race.race_id, runner.horse_id)]
            if stored.runner_facts.get((race.race_id, runner.horse_id)) != runner.values:
                changes.runner_facts.append((runner_key,) + runner.values)
        key = (race.race_id, runner.horse_id, bookmaker_id)
        before = stored.rows.get(key)
        if before is not None and before.book == price.book and before.quote == quote:
            continue
        stamp = price.odds_timestamp or now
        row = (runner_key, stored.bookmaker_keys[bookmaker_id], stored.book_keys[price.book],
               None if quote.odds_decimal is None else round(quote.odds_decimal * PRICE_SCALE),
               quote.odds_fractional, quote.ew_places, quote.ew_denom, status_code(quote.market_status), stamp)
        if before is not None:
            changes.known_prices.append(row)  # KNOWN_PRICE
        else:
            changes.new_prices.append(row + (False, now, now, now))  # NEW_PRICE
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


MOVE_COLUMNS = ("changed_at", "observed_at", "runner_key", "odds_x10000", "bookmaker_key", "source_code",
                "odds_fractional")
MOVE_KEY = ("runner_key", "bookmaker_key", "changed_at")


def write_history(session: Session, rows: list[HistoryRow], source: str = OBSERVED,
                  runner_keys: dict[RunnerId, int] | None = None, bookmaker_keys: dict[str, int] | None = None) -> int:
    """Every new price into ra_odds_moves (read as the view ra_odds_history), its runner and
    bookmaker as their compact keys (those given, else read), numbered here when new; a move
    already stored (same runner, bookmaker and changed_at) is kept as it is. Returns the rows written."""
    if not rows:
        return 0
    rows_by_key, collapsed = unique_by_key(rows, HISTORY_KEY, HistoryRow._fields)
    if collapsed:
        log.warning("ra_odds_history: %d rows repeated a key already in the batch; the last of each kept", collapsed)
    wanted_runners = {(r.race_id, r.horse_id) for r in rows_by_key}
    runners = runner_keys if runner_keys is not None and wanted_runners <= runner_keys.keys() \
        else _runner_keys(session, wanted_runners)
    wanted_books = {r.bookmaker_id for r in rows_by_key}
    books = bookmaker_keys if bookmaker_keys is not None and wanted_books <= bookmaker_keys.keys() \
        else _bookmaker_keys(session, wanted_books)
    code = SOURCES.index(source)
    moves = [(r.changed_at, r.observed_at, runners[(r.race_id, r.horse_id)], round(r.odds_decimal * PRICE_SCALE),
              books[r.bookmaker_id], code, r.odds_fractional) for r in rows_by_key]
    return upsert(session, OddsMove.__table__, moves, MOVE_KEY, expect_new=True, columns=MOVE_COLUMNS)


def _runner_keys(session: Session, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(race_id, horse_id) -> runner_key for every pair wanted, numbering the new ones."""
    runners = LiveRunner.__table__
    race_ids = sorted({race_id for race_id, _ in wanted})

    def read() -> dict[tuple[str, str], int]:
        return {(race_id, horse_id): key for key, race_id, horse_id in session.execute(
            select(runners.c.runner_key, runners.c.race_id, runners.c.horse_id)
            .where(runners.c.race_id.in_(race_ids)))}
    keys = read()
    missing = sorted(wanted - keys.keys())
    if missing:
        upsert(session, runners, missing, ("race_id", "horse_id"), columns=("race_id", "horse_id"))
        keys = read()
    return keys


def _bookmaker_keys(session: Session, wanted: set[str]) -> dict[str, int]:
    """bookmaker_id -> bookmaker_key for every id wanted, numbering the new ones."""
    keys = read_bookmaker_keys(session)
    missing = sorted(wanted - keys.keys())
    if missing:
        upsert(session, BookmakerKey.__table__, [(b,) for b in missing], ("bookmaker_id",), columns=("bookmaker_id",))
        keys = read_bookmaker_keys(session)
    return keys


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
