"""Benchmark: shapes of the live write's "every price changed" UPDATE, against COPY.

    .venv/bin/python -m bench.update_shapes [--races 60 --runners 12 --repeats 5]

A day's live prices (bench/live_cycle.py's day, 18,720 rows) are written by one cycle; then
the quote columns of every price (darkhorses.live.write.KNOWN_PRICE: runner and bookmaker
keys, book facts key, quote, stamp) in ra_live_prices are updated, each shape in a
transaction rolled back (and the table vacuumed) so every shape meets the same table:
  - temp table: COPY into a temporary table, one UPDATE … FROM it (the production path,
    darkhorses.db.upsert with known=True);
  - unnest: one UPDATE … FROM unnest(%s::text[], …) with a Python list per column;
  - VALUES: UPDATE … FROM (VALUES …) in pages of 1,000 (psycopg2's execute_values).
Prints each shape's median seconds and its ratio to a COPY of the same wide rows into an
empty one-table copy (bench/live_cycle.py's baseline).
"""
from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import time
from datetime import datetime, timedelta, timezone

from bench.common import scratch_database
from bench.live_cycle import build_day, copy_baseline, move_prices
from tests.builders import FakeCards

# (column, PostgreSQL array type) of a quote update, in KNOWN_PRICE order.
KEY_TYPES = (("runner_key", "integer"), ("bookmaker_key", "smallint"))
SET_TYPES = (("book_facts_key", "smallint"), ("odds_x10000", "integer"), ("odds_fractional", "varchar"),
             ("ew_places", "varchar"), ("ew_denom", "varchar"), ("market_status_code", "smallint"),
             ("odds_timestamp", "timestamptz"))


def quote_rows(cards: list[dict], now: datetime) -> list[tuple]:
    """KNOWN_PRICE tuples of every price of `cards`, parsed as the cycle parses them, keyed as
    the first cycle numbered them."""
    from darkhorses.db import session_scope
    from darkhorses.live.parse import parse_racecard
    from darkhorses.live.stored import read_stored
    from darkhorses.models.views import PRICE_SCALE, status_code
    races = [parse_racecard(card) for card in cards]
    with session_scope() as session:
        stored = read_stored(session, [race.race_id for race in races])
    return [(stored.runner_keys[(race.race_id, price.runner.horse_id)], stored.bookmaker_keys[price.bookmaker_id],
             stored.book_keys[price.book], round(price.quote.odds_decimal * PRICE_SCALE), price.quote.odds_fractional,
             price.quote.ew_places, price.quote.ew_denom, status_code(price.quote.market_status),
             price.odds_timestamp or now) for race in races for price in race.prices]


def _temp_table(session, rows, now):
    from darkhorses.db import upsert
    from darkhorses.live.write import KNOWN_PRICE, PRICE_KEY, QUOTE_COLUMNS
    from darkhorses.models import LivePrice
    upsert(session, LivePrice.__table__, rows, PRICE_KEY, QUOTE_COLUMNS, known=True, columns=KNOWN_PRICE,
           same={"in_play": False, "fetched_at": now, "updated_at": now})


def _assignments() -> str:
    return ", ".join([f"{c} = t.{c}" for c, _ in SET_TYPES] + ["in_play = false", "fetched_at = %(now)s",
                                                                "updated_at = %(now)s"])


def _unnest(session, rows, now):
    from darkhorses.db import driver_cursor
    columns = KEY_TYPES + SET_TYPES
    arrays = {c: list(values) for (c, _), values in zip(columns, zip(*rows, strict=True), strict=True)}
    unnest = ", ".join(f"%({c})s::{t}[]" for c, t in columns)
    match = " AND ".join(f"p.{c} = t.{c}" for c, _ in KEY_TYPES)
    driver_cursor(session).execute(
        f"UPDATE ra_live_prices p SET {_assignments()} FROM unnest({unnest}) "
        f"AS t({', '.join(c for c, _ in columns)}) WHERE {match}", {**arrays, "now": now})


def _values(session, rows, now):
    from psycopg2.extras import execute_values

    from darkhorses.db import driver_cursor
    columns = KEY_TYPES + SET_TYPES
    template = "(" + ", ".join(f"%s::{t}" for _, t in columns) + ")"
    match = " AND ".join(f"p.{c} = t.{c}" for c, _ in KEY_TYPES)
    sets = _assignments().replace("%(now)s", f"'{now.isoformat()}'::timestamptz")
    execute_values(driver_cursor(session),
                   f"UPDATE ra_live_prices p SET {sets} FROM (VALUES %s) "
                   f"AS t({', '.join(c for c, _ in columns)}) WHERE {match}", rows, template=template, page_size=1000)


SHAPES = {"temp table + UPDATE FROM": _temp_table, "UPDATE FROM unnest()": _unnest,
          "UPDATE FROM VALUES (pages of 1,000)": _values}


def _vacuum(url: str) -> None:
    from sqlalchemy import create_engine, text
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE ra_live_prices"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--races", type=int, default=60)
    parser.add_argument("--runners", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from darkhorses.db import session_scope
    from darkhorses.live.cycle import run_cycle

    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        cards = pool.apply(build_day, (args.races, args.runners, now))
    changed = move_prices(cards, 1.0, now + timedelta(seconds=5), random.Random(9))
    times: dict[str, list[float]] = {name: [] for name in SHAPES}
    with scratch_database() as url:
        run_cycle(FakeCards(cards, on=now.date()), now)
        rows = quote_rows(changed, now)
        _vacuum(url)
        copy_seconds, copied = copy_baseline(url)
        for _ in range(args.repeats):
            for name, shape in SHAPES.items():
                with session_scope() as session:
                    started = time.perf_counter()
                    shape(session, rows, now + timedelta(seconds=10))
                    times[name].append(time.perf_counter() - started)
                    session.rollback()
                _vacuum(url)
    copy_rows = copy_seconds / copied * len(rows)
    print(f"update shapes: {len(rows):,} prices all changed (quote columns); COPY of the same wide rows "
          f"{copy_rows:.3f} s; median of {args.repeats}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<38} {median:7.3f} s  {median / copy_rows:5.2f}x COPY")


if __name__ == "__main__":
    main()
