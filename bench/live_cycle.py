"""Benchmark: one live cycle over a full UK+IRE day, against PostgreSQL's COPY of the same rows.

    .venv/bin/python -m bench.live_cycle [--races 60 --runners 12]

Cards come from the simulator (several of its days, re-dated to this afternoon, trimmed to
RUNNERS runners and all 26 bookmakers priced) so the day is 60 × 12 × 26 = 18,720 prices.
Prints rows/s for cycles where every price is new, none changed, 10% changed and every price
changed; the time COPY needs to load the same rows into an empty table; the ratios; peak RSS.
Targets: full change within 3× COPY, no change under 1/5 of full change, peak RSS < 150 MB.
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import multiprocessing
import random
import time
from datetime import datetime, timedelta, timezone

from bench.common import peak_rss_mb, scratch_database
from darkhorses.racing_api.bookmakers import BOOKMAKERS
from tests.builders import FakeCards, quote


def build_day(races: int, runners: int, now: datetime) -> list[dict]:
    from darkhorses.simulator import Simulator
    sim = Simulator(seed=11, clock=lambda: now)
    cards, day = [], now.date()
    while len(cards) < races:
        page = sim.racecards_pro(day, ["gb", "ire"], 500, 0)
        for card in page["racecards"]:
            if len(card["runners"]) >= runners and not card.get("is_abandoned") and len(cards) < races:
                cards.append(card)
        day += timedelta(days=1)
    rng = random.Random(5)
    for index, card in enumerate(cards):
        off = now + timedelta(minutes=30 + 5 * index)
        card.update(race_id=f"rac_bench_{index}", off_dt=off.isoformat(), date=off.date().isoformat())
        card["runners"] = card["runners"][:runners]
        for runner in card["runners"]:
            runner["odds"] = [quote(b.name, str(price := round(rng.uniform(1.5, 40), 2)),
                                    f"{int((price - 1) * 100)}/100", updated=now.isoformat()) for b in BOOKMAKERS]
    return cards


def move_prices(cards: list[dict], share: float, now: datetime, rng: random.Random) -> list[dict]:
    cards = copy.deepcopy(cards)
    for card in cards:
        for runner in card["runners"]:
            for offer in runner["odds"]:
                if rng.random() < share:
                    price = round(float(offer["decimal"]) * rng.choice((0.9, 1.1)), 2)
                    offer.update(decimal=str(price), fractional=f"{int((price - 1) * 100)}/100",
                                 updated=now.isoformat())
    return cards


def copy_baseline(url: str) -> tuple[float, int]:
    """(seconds for COPY of the cycle's rows, every column but id, into an empty table, rows).
    The CSV is written as before (Python's formatting of each value, NULL as \\N), but from
    rows streamed one at a time: the harness's copy of the rows must not decide peak RSS."""
    import psycopg2
    from sqlalchemy import text

    from darkhorses.db import get_engine
    buffer, rows = io.StringIO(), 0
    writer = csv.writer(buffer, lineterminator="\n")
    with get_engine().connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(
            text("SELECT * FROM ra_odds_live_prices ORDER BY id"))
        columns = [c for c in result.keys() if c != "id"]
        for row in result.mappings():
            writer.writerow([("\\N" if row[c] is None else row[c].isoformat() if hasattr(row[c], "isoformat")
                              else row[c]) for c in columns])
            rows += 1
    connection = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_copy (LIKE ra_odds_live_prices INCLUDING DEFAULTS)")
        buffer.seek(0)
        started = time.perf_counter()
        cursor.copy_expert(f"COPY bench_copy ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
    connection.close()
    return elapsed, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--races", type=int, default=60)
    parser.add_argument("--runners", type=int, default=12)
    args = parser.parse_args()

    from darkhorses.live.cycle import run_cycle

    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    # The simulator's memory is not the cycle's: build the day in a child process.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        cards = pool.apply(build_day, (args.races, args.runners, now))
    rng = random.Random(9)
    with scratch_database() as url:
        figures = {}

        def cycle(name, day_cards, at):
            started = time.perf_counter()
            summary = run_cycle(FakeCards(day_cards, on=now.date()), at)
            figures[name] = (time.perf_counter() - started, summary)

        cycle("all new", cards, now)
        cycle("no change", cards, now + timedelta(seconds=10))
        # A move carries the bookmaker's new `updated` stamp (a move under an unchanged stamp is
        # rarer, and writes the same one history row).
        cycle("10% changed", move_prices(cards, 0.10, now + timedelta(seconds=15), rng), now + timedelta(seconds=20))
        cycle("all changed", move_prices(cards, 1.0, now + timedelta(seconds=25), rng), now + timedelta(seconds=30))
        copy_seconds, row_count = copy_baseline(url)

    prices = figures["all new"][1].prices
    print(f"live cycle benchmark: {args.races} races x {args.runners} runners x {len(BOOKMAKERS)} bookmakers "
          f"= {prices:,} prices")
    for name, (seconds, summary) in figures.items():
        print(f"  {name:<12} {seconds:7.3f} s  {prices / seconds:>10,.0f} rows/s  changed {summary.changed:>6,}  "
              f"{seconds / copy_seconds:5.2f}x COPY")
    print(f"  COPY baseline {copy_seconds:6.3f} s  {row_count / copy_seconds:>10,.0f} rows/s "
          "(same rows into an empty table)")
    full, none = figures["all changed"][0], figures["no change"][0]
    print(f"  full-change / COPY = {full / copy_seconds:.2f} (target <= 3)")
    print(f"  all-new / COPY     = {figures['all new'][0] / copy_seconds:.2f}")
    print(f"  no-change / full-change = {none / full:.2f} (target < 0.2)")
    print(f"  peak RSS {peak_rss_mb():.0f} MB (target < 150)")


if __name__ == "__main__":
    main()
