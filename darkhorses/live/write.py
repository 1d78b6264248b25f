"""The live write path: compare a cycle's parsed prices with the stored rows and write only
what changed (ra_odds_live_prices), every new price into ra_odds_history, and the races polled.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Float, cast, select, update

from ..db import upsert
from ..models import Bookmaker, LiveRace, OddsHistory, OddsLive
from . import digests as card_digests
from .parse import (
    HISTORY,
    LIVE_KEY,
    PRICE,
    QUOTE,
    QUOTE_STAMPED,
    QUOTE_UPDATED,
    RACE,
    RUNNER,
    UPDATED,
    WHOLE,
    ParsedRace,
    earlier_prices,
)
from .summary import CycleSummary
from .withdrawals import mark_non_runners

log = logging.getLogger(__name__)


def _stored_rows(session, race_ids: list[str]) -> dict:
    """key -> (QUOTE values, the bookmaker's `updated` stamp as stored, the RACE and RUNNER
    values but horse_id, (bookmaker_name, bookmaker_type)).

    On PostgreSQL each row brings its quote alone; the values that are the same for every row
    of a runner (or a bookmaker) come once per runner (bookmaker), shared by its rows: a
    third of the decoding and memory. Rows of a runner or bookmaker whose stored values
    differ between rows (a row not rewritten when its card changed) are read whole."""
    live = OddsLive.__table__
    rest = RACE + RUNNER[1:]
    if session.get_bind().dialect.name != "postgresql":
        columns = [cast(live.c[c], Float) if c == "odds_decimal" else live.c[c]
                   for c in LIVE_KEY + QUOTE + ("odds_timestamp",) + rest + PRICE[1:3]]
        return {tuple(row[:3]): (tuple(row[3:8]), row[8], tuple(row[9:-2]), tuple(row[-2:]))
                for row in session.execute(select(*columns).where(live.c.race_id.in_(race_ids)))}
    # Straight from the driver (numeric read as float8): psycopg2 returns the types the
    # rows compare with; SQLAlchemy's per-value result processing would cost more.
    cursor = session.connection().connection.dbapi_connection.cursor()
    where = f"FROM {live.name} WHERE race_id = ANY(%s)"
    cursor.execute(f"SELECT DISTINCT race_id, horse_id, {', '.join(rest)} {where}", (race_ids,))
    runners, mixed = {}, set()
    for row in cursor:
        if row[:2] in runners:
            mixed.add(row[:2])
        runners[row[:2]] = row[2:]
    cursor.execute(f"SELECT DISTINCT bookmaker_id, bookmaker_name, bookmaker_type {where}", (race_ids,))
    books, mixed_books = {}, set()
    for row in cursor:
        if row[0] in books:
            mixed_books.add(row[0])
        books[row[0]] = row[1:]
    cursor.execute(f"SELECT race_id, horse_id, bookmaker_id, odds_decimal::float8, {', '.join(QUOTE[1:])}, "
                   f"odds_timestamp {where}", (race_ids,))
    stored = {row[:3]: (row[3:8], row[8], runners[row[:2]], books[row[2]]) for row in cursor}
    if mixed or mixed_books:
        cursor.execute(f"SELECT race_id, horse_id, bookmaker_id, {', '.join(rest + PRICE[1:3])} {where} "
                       "AND (race_id = ANY(%s) OR bookmaker_id = ANY(%s))",
                       (race_ids, sorted({race_id for race_id, _ in mixed}), sorted(mixed_books)))
        for row in cursor:
            if row[:2] in mixed or row[2] in mixed_books:
                quote, stamp, _, _ = stored[row[:3]]
                stored[row[:3]] = (quote, stamp, row[3:-2], row[-2:])
    return stored


def write_open_races(session, races: list[ParsedRace], now: datetime, summary: CycleSummary,
                      digests: dict[str, str] | None = None) -> set[str]:
    """Write the prices that changed; returns the ids of the bookmakers seen."""
    if not races:
        return set()
    race_ids = [r.race_id for r in races]
    live = OddsLive.__table__
    stored = _stored_rows(session, race_ids)
    mark_non_runners(session, races, stored, now, summary)

    # New rows are COPYed straight in; known keys are one UPDATE … FROM, of the quote's
    # columns alone when nothing else about the row changed.
    new_rows, whole_rows, quote_rows, history_rows, bookmakers = [], [], [], [], set()
    for race in races:
        summary.races += 1
        summary.runners += race.runners
        summary.skipped_runners += race.skipped_runners
        summary.skipped_prices += race.skipped_prices
        summary.prices += len(race.prices)
        _sort_changes(race, stored, now, bookmakers, (new_rows, whole_rows, quote_rows, history_rows))
        # Earlier prices the API still reports: our own first sight of a price may be late.
        for (horse_id, bookmaker_id), history in race.raw_history.items():
            if (race.race_id, horse_id, bookmaker_id) not in stored:
                history_rows.extend(tuple(h[c] for c in HISTORY[:-1]) + (now,)
                                    for h in earlier_prices(race.race_id, horse_id, bookmaker_id, history))
    summary.bookmakers = len(bookmakers)
    summary.changed = len(new_rows) + len(whole_rows) + len(quote_rows)
    del stored
    _register_unknown_bookmakers(session, races, summary)
    same = {"in_play": False, "fetched_at": now, "updated_at": now}
    upsert(session, live, quote_rows, LIVE_KEY, QUOTE_UPDATED, known=True, columns=LIVE_KEY + QUOTE_STAMPED, same=same)
    upsert(session, live, whole_rows, LIVE_KEY, UPDATED, known=True, columns=WHOLE)
    upsert(session, live, new_rows, LIVE_KEY, UPDATED, expect_new=True, columns=WHOLE)
    # A new price's changed_at is past the stored stamp (_changed_at): its key is new.
    summary.history = upsert(session, OddsHistory.__table__, history_rows,
                             ("race_id", "horse_id", "bookmaker_id", "changed_at"), expect_new=True,
                             columns=HISTORY)

    digests = digests or {}
    upsert(session, LiveRace.__table__, [
        {"race_id": r.race_id, "race_date": r.meta["race_date"], "off_dt": r.off_dt,
         "course": r.meta["course"], "race_name": r.meta["race_name"], "market_status": "OPEN",
         "captures": 0, "first_seen_at": now, "fetched_at": now, "card_digest": digests.get(r.race_id),
         "card_counts": card_digests.race_counts(r)} for r in races],
        ("race_id",), ("race_date", "off_dt", "course", "race_name", "card_digest", "card_counts"))
    races_table = LiveRace.__table__
    session.execute(update(races_table).where(races_table.c.race_id.in_(race_ids)).values(
        captures=races_table.c.captures + 1, fetched_at=now))
    return bookmakers


def _sort_changes(race: ParsedRace, stored: dict, now: datetime, bookmakers: set, out: tuple) -> None:
    """Append the race's changed prices to (new, whole, quote, history) rows: new keys whole,
    known keys whole or, when nothing but the quote changed, the quote's columns alone."""
    new_rows, whole_rows, quote_rows, history_rows = out
    race_id, race_values = race.race_id, tuple(race.meta[c] for c in RACE)
    last_runner = rest = None
    for runner, bookmaker_id, name, kind, decimal, fractional, ew_places, ew_denom, stamp in race.prices:
        bookmakers.add(bookmaker_id)
        if runner is not last_runner:  # a runner's prices are consecutive and share its tuple
            last_runner, rest = runner, race_values + runner[1:]
        key = (race_id, runner[0], bookmaker_id)
        quote = (decimal, fractional, ew_places, ew_denom, "OPEN")
        before = stored.get(key)
        same_rest = before is not None and before[2] == rest and before[3] == (name, kind)
        if same_rest and before[0] == quote:
            continue
        stamp = stamp or now
        if same_rest:
            quote_rows.append(key + quote + (stamp,))
        else:
            (whole_rows if before is not None else new_rows).append(
                key + rest + (name, kind) + quote + (False, stamp, now, now, now))
        if before is None or before[0][:2] != (decimal, fractional):
            history_rows.append(key + (decimal, fractional, _changed_at(stamp, before, now), now))


def _changed_at(stamp: datetime | None, before, now: datetime) -> datetime:
    """When a new price was set: the bookmaker's `updated` stamp, or our own time when the
    stamp did not move past the stored one (a move the bookmaker did not re-stamp would
    otherwise collide with the earlier price's history row and be lost)."""
    if stamp is None or (before is not None and before[1] is not None and stamp <= before[1]):
        return now
    return stamp


_unknown_logged: set[str] = set()


def _register_unknown_bookmakers(session, races: list[ParsedRace], summary: CycleSummary) -> None:
    """Bookmakers outside our list join ra_bookmakers as 'unknown'; each is logged once per process."""
    unknown = {}
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
