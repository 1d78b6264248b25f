"""Benchmark: a year of data on one PostgreSQL — statistics, readers, chart, live cycle, disk.

    .venv/bin/python -m bench.year [--days 365] [--keep-db NAME] [--plans]

Builds DAYS days (ending yesterday) on a scratch database it creates and drops (with
`--keep-db NAME` it is left behind, named NAME, on the same PostgreSQL). Every day has
the shape of a UK+IRE day (bench/live_cycle.py's simulator day: 60 races x 12 runners x 26
bookmakers = 18,720 live prices, ~5.3 price changes per price = ~100k history rows, 720
results), re-dated and COPY-loaded; the newest 30 days first, so the statistics job is timed
on 30 days and then on all of them. Prints, for DAYS days:
  - the statistics job (darkhorses.stats.update_statistics, steady state: the rollups of
    settled days already kept, as in production) p50/max, and its ratio to 30 days;
  - the old readers' queries (docs/switching.md) and `chart` for one race, p50/max;
  - one live cycle (new day, then no change, then every price changed) against an empty database;
  - the live cycle against a COPY of the same wide rows into one table (bench/live_cycle.py);
  - table and index sizes, bytes per live price and per history row, disk per month and per
    year, and the line for the sizing table (docs/data.md, README);
and last `PASS` or `FAIL: <figures>`. Targets: a year <= 4 GB (tables + indexes); statistics
at DAYS <= 1.5x at 30 days and < 2 s; each reader query < 50 ms; chart < 200 ms; live cycle
<= 1.2x the empty database's; an all-changed cycle <= 3x COPY, an unchanged one < 0.2x.
"""
from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import random
import re
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

from bench.common import scratch_database
from bench.live_cycle import build_day, copy_baseline, move_prices
from darkhorses.models.views import RACE_FACTS, RUNNER_FACTS, status_code
from tests.builders import FakeCards

BASELINE_DAYS = 30
REPEATS = 15
TEMPLATE_DAY = date(2000, 1, 10)          # placeholder day the template is built on
D, P, R, H = "\x01", "\x02", "\x03", "\x04"  # day, day before, race-id suffix, horse-id suffix
# The day's 720 runners are one of this many crops of horses: ~40k horses, each running
# every 55 days, so distinct-horse counts grow as they would in a real year.
HORSE_CROPS = 55
# The live prices as migration 0009 stores them: a race's facts once, a runner's once, the
# narrow price rows (their id from the table's identity); each bookmaker's (name, type) pair
# numbered once before the first day (BF around "name|type", replaced by its key).
RACE_FACTS_COLUMNS = ("race_id",) + RACE_FACTS
RUNNER_FACTS_COLUMNS = ("runner_key",) + RUNNER_FACTS
PRICE_COLUMNS = ("runner_key", "bookmaker_key", "book_facts_key", "odds_x10000", "odds_fractional", "ew_places",
                 "ew_denom", "market_status_code", "in_play", "odds_timestamp", "fetched_at", "created_at",
                 "updated_at")
CLOSED_CODE = status_code("CLOSED")
MOVE_COLUMNS = ("changed_at", "observed_at", "runner_key", "odds_x10000", "bookmaker_key", "odds_fractional")
RUNNER_COLUMNS = ("runner_key", "race_id", "horse_id")
# A day's runner keys: the day's ordinal and the runner's number that day (~739,000,719 at
# most, within an integer), so days load without asking the database for keys.
K, B, BF = "\x05", "\x06", "\x07"  # runner-key prefix; around a bookmaker id (book facts), replaced by its key once
RESULT_COLUMNS = ("race_id", "horse_id", "date_of_race", "country", "track", "course_id", "race_time",
                  "match_timestamp",
                  "race_name", "going", "race_type", "distance", "race_class", "runners_count", "horse_name",
                  "jockey", "jockey_id", "trainer", "trainer_id", "finishing_position", "industry_sp",
                  "betfair_sp", "pre_race_min", "pre_race_max", "created_at", "updated_at")
RACE_COLUMNS = ("race_id", "race_date", "off_dt", "course", "race_name", "market_status", "captures",
                "first_seen_at", "fetched_at")

# The old readers' queries (docs/switching.md, "What the readers query"), on our column names.
READERS = {
    "live by date, course, bookmaker": "SELECT * FROM ra_odds_live WHERE race_date = :today AND course ILIKE :course "
                                       "AND bookmaker_name ILIKE :bookmaker ORDER BY odds_timestamp DESC",
    "races today and tomorrow": "SELECT DISTINCT race_id, race_date, race_time, course, race_name FROM ra_odds_live "
                                "WHERE race_date BETWEEN :today AND :tomorrow",
    "upcoming races": "SELECT DISTINCT race_id, race_date, race_time, off_dt, course, race_name, race_type, distance, "
                      "runners FROM ra_odds_live WHERE off_dt >= :now ORDER BY off_dt",
    "a race's prices": "SELECT horse_id, horse_name, horse_number, odds_fractional, odds_decimal, bookmaker_name, "
                       "odds_timestamp, fetched_at FROM ra_odds_live WHERE race_id = :race",
    "best price per horse": "SELECT DISTINCT ON (horse_id) horse_id, horse_name, odds_decimal, bookmaker_name "
                            "FROM ra_odds_live WHERE race_id = :race ORDER BY horse_id, odds_decimal DESC",
    "bookmakers": "SELECT bookmaker_id, bookmaker_name, bookmaker_type FROM ra_bookmakers",
    "distinct courses": "SELECT DISTINCT course FROM ra_odds_live",
    "results of a day at a track": "SELECT * FROM ra_odds_historical WHERE date_of_race >= :day AND "
                                   "date_of_race < :day_end AND track ILIKE :track ORDER BY date_of_race DESC",
    # A year of results is ~260k rows: a reader pages through it; the first page of 1,000 here.
    "results of a year": "SELECT * FROM ra_odds_historical WHERE date_of_race >= :year_start AND "
                         "date_of_race < :day_end ORDER BY date_of_race DESC LIMIT 1000",
    "results date range": "SELECT min(date_of_race), max(date_of_race) FROM ra_odds_historical",
    "results summary": "SELECT date_of_race, track, race_time FROM ra_odds_historical "
                       "WHERE date_of_race >= :week_start "
                       "AND date_of_race < :day_end",
    "results count": "SELECT count(*) FROM ra_odds_historical",
}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


def _template_time(moment: datetime) -> str:
    text = moment.astimezone(timezone.utc).isoformat()
    day = moment.astimezone(timezone.utc).date()
    return text.replace(day.isoformat(), D if day == TEMPLATE_DAY else P)


def build_template(cards: list[dict]) -> dict[str, str]:
    """One day as CSV text per table, dates and race ids as placeholders."""
    from darkhorses.live.parse import parse_racecard
    rng = random.Random(17)
    out = {name: io.StringIO() for name in ("race_facts", "runner_facts", "prices", "history", "results", "races",
                                            "runners")}
    runner_numbers: dict[tuple[str, str], str] = {}
    write = {name: csv.writer(buffer, lineterminator="\n").writerow for name, buffer in out.items()}
    for card in cards:
        race = parse_racecard(card)
        shift = datetime.combine(TEMPLATE_DAY, datetime.min.time(), timezone.utc) - \
            datetime.combine(race.off_dt.date(), datetime.min.time(), timezone.utc)
        off = race.off_dt + shift
        race_id = race.race_id + "_" + R
        people = {f"{r['horse_id']}_{H}": (r.get("jockey_id"), r.get("trainer_id")) for r in card["runners"]}
        captured = {}
        rows = race.rows  # built afresh from the parsed tuples on each access
        facts = {**race.values._asdict(), "race_id": race_id, "race_date": D, "off_dt": off}
        write["race_facts"]([_template_time(facts[c]) if isinstance(facts[c], datetime) else _cell(facts[c])
                             for c in RACE_FACTS_COLUMNS])
        for row in rows:
            row["horse_id"] = f"{row['horse_id']}_{H}"
            runner = runner_numbers.get((race_id, row["horse_id"]))
            if runner is None:
                runner = runner_numbers[(race_id, row["horse_id"])] = f"{K}{len(runner_numbers):03d}"
                write["runners"]([runner, race_id, row["horse_id"]])
                write["runner_facts"]([runner] + [_cell(row[c]) for c in RUNNER_FACTS])
            stamps = {"odds_timestamp": off - timedelta(minutes=rng.randint(1, 30)),
                      "fetched_at": off - timedelta(seconds=5), "created_at": off - timedelta(hours=20),
                      "updated_at": off - timedelta(minutes=1)}
            write["prices"]([runner, f"{B}{row['bookmaker_id']}{B}",
                             f"{BF}{row['bookmaker_name']}|{row['bookmaker_type']}{BF}",
                             round(row["odds_decimal"] * 10000), _cell(row["odds_fractional"]),
                             _cell(row["ew_places"]), _cell(row["ew_denom"]), CLOSED_CODE, False]
                            + [_template_time(stamps[c]) for c in PRICE_COLUMNS[-4:]])
            price = row["odds_decimal"]
            changes = 5 if rng.random() < 0.65 else 6                  # ~5.35 a price: ~100k a day
            for step in range(changes):
                at = off - timedelta(hours=20) + timedelta(minutes=step * 200 + rng.randint(0, 150))
                price = max(1.01, round(price * rng.choice((0.9, 0.95, 1.05, 1.1)), 2))
                captured.setdefault(row["horse_id"], []).append(price)
                write["history"]([_template_time(at), _template_time(at), runner, round(price * 10000),
                                  f"{B}{row['bookmaker_id']}{B}", f"{int((price - 1) * 100)}/100"])
        for position, (horse, prices) in enumerate(captured.items(), 1):
            jockey_id, trainer_id = people.get(horse, (None, None))
            first = next(r for r in rows if r["horse_id"] == horse)
            values = {**race.values._asdict(), "race_id": race_id, "horse_id": horse,
                      "date_of_race": D + "T00:00:00+00:00",
                      "track": race.values.course, "match_timestamp": off, "race_class": (position % 6) + 1,
                      "runners_count": len(captured),
                      "horse_name": first["horse_name"], "jockey": first["jockey"], "jockey_id": jockey_id,
                      "trainer": first["trainer"], "trainer_id": trainer_id, "finishing_position": str(position),
                      "industry_sp": prices[-1], "betfair_sp": round(prices[-1] * 1.08, 2),
                      "pre_race_min": min(prices), "pre_race_max": max(prices),
                      "created_at": off + timedelta(hours=12), "updated_at": off + timedelta(hours=12)}
            write["results"]([_template_time(values[c]) if isinstance(values[c], datetime)
                              else _cell(values[c]) for c in RESULT_COLUMNS])
        write["races"]([_cell(v) if not isinstance(v, datetime) else _template_time(v) for v in (
            race_id, D, off, race.values.course, race.values.race_name, "CLOSED", 180,
            off - timedelta(hours=20), off - timedelta(seconds=5))])
    return {name: buffer.getvalue() for name, buffer in out.items()}


def load_days(url: str, template: dict[str, str], days: list[date]) -> None:
    import psycopg2
    connection = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    targets = {"race_facts": ("ra_live_race_facts", RACE_FACTS_COLUMNS),
               "runner_facts": ("ra_live_runner_facts", RUNNER_FACTS_COLUMNS),
               "prices": ("ra_live_prices", PRICE_COLUMNS),
               "history": ("ra_odds_moves", MOVE_COLUMNS), "runners": ("ra_live_runners", RUNNER_COLUMNS),
               "results": ("ra_odds_historical", RESULT_COLUMNS), "races": ("ra_live_races", RACE_COLUMNS)}
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT bookmaker_id, bookmaker_key FROM ra_bookmaker_keys")
        template = dict(template)
        for bookmaker_id, key in cursor.fetchall():
            for name in ("history", "prices"):
                template[name] = template[name].replace(f"{B}{bookmaker_id}{B}", str(key))
        pairs = sorted(set(re.findall(f"{BF}([^{BF}]*){BF}", template["prices"])))
        for pair in pairs:
            name, kind = pair.split("|")
            cursor.execute("INSERT INTO ra_live_book_facts (bookmaker_name, bookmaker_type) VALUES (%s, %s) "
                           "ON CONFLICT DO NOTHING", (name, kind))
        cursor.execute("SELECT bookmaker_name || '|' || bookmaker_type, book_facts_key FROM ra_live_book_facts")
        for pair, key in cursor.fetchall():
            template["prices"] = template["prices"].replace(f"{BF}{pair}{BF}", str(key))
        for day in days:
            for name, (table, columns) in targets.items():
                text = template[name].replace(D, day.isoformat()).replace(
                    P, (day - timedelta(days=1)).isoformat()).replace(R, day.strftime("%Y%m%d")).replace(
                    H, str(day.toordinal() % HORSE_CROPS)).replace(K, str(day.toordinal()))
                cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)",
                                   io.StringIO(text))
            cursor.execute("INSERT INTO ra_collection_ledger (race_date, status, races, runners, attempts, "
                           "updated_at) VALUES (%s, 'complete', 60, 720, 1, %s)",
                           (day, datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc)
                            + timedelta(hours=1)))
            connection.commit()
        # Keys numbered by the collector from now on come after the loaded ones.
        cursor.execute("SELECT setval(pg_get_serial_sequence('ra_live_runners', 'runner_key'), "
                       "(SELECT max(runner_key) FROM ra_live_runners))")
    connection.close()


def make_partitions(first: date, last: date) -> None:
    from darkhorses.db import session_scope
    from darkhorses.db.partitions import create_partition, existing_partitions, month_start
    with session_scope() as session:
        have = set(existing_partitions(session))
        month = month_start(first - timedelta(days=1))
        while month <= last:
            if month not in have:
                create_partition(session, month)
            month = month_start(month, 1)


def vacuum(url: str) -> None:
    from sqlalchemy import create_engine, text
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def timed(function, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def stats_job(now: datetime, output_dir: str) -> tuple[float, float, float, dict]:
    """(first run: the rollups of newly loaded days built, steady p50, steady max, steady parts)."""
    from darkhorses.core.clock import uk_date
    from darkhorses.core.settings import get_settings
    from darkhorses.db import session_scope
    from darkhorses.stats import legacy_files, report
    from darkhorses.stats.compute import collection_health, historical_statistics, live_statistics, update_statistics

    def job():
        with session_scope() as session:
            update_statistics(session, get_settings(), now, output_dir=output_dir)

    started = time.perf_counter()
    job()
    first = time.perf_counter() - started
    p50, worst = timed(job, 3)
    parts = {}
    with session_scope() as session:
        for name, part in (("live", live_statistics), ("historical", historical_statistics),
                           ("collection health", lambda session, now: collection_health(
                               session, now, get_settings().live_lease_grace))):
            parts[name] = timed(lambda part=part: part(session, now), 1)[0]
        parts["report movers"] = timed(lambda: report.biggest_movers(session, uk_date(now)), 1)[0]
        parts["contract files"] = timed(lambda: (legacy_files.live_sections(session, now),
                                                 legacy_files.historical_sections(session, now)), 1)[0]
    return first, p50, worst, parts


def live_cycles(cards: list[dict], now: datetime, repeats: int = 3) -> dict[str, float]:
    """Median seconds of a race day's first cycle, an unchanged one and an all-changed one,
    each repeat on races new to the database (fresh ids); "total" the median of their sums."""
    import copy

    from darkhorses.live.cycle import run_cycle
    rng = random.Random(9)
    times: dict[str, list] = {"new": [], "unchanged": [], "all changed": [], "total": []}
    for repeat in range(repeats):
        day = copy.deepcopy(cards)
        for card in day:
            card["race_id"] = f"{card['race_id']}_{repeat}"
        changed = move_prices(day, 1.0, now, rng)
        at = now + timedelta(minutes=repeat)
        for name, day_cards, offset in (("new", day, 0), ("unchanged", day, 10), ("all changed", changed, 20)):
            started = time.perf_counter()
            run_cycle(FakeCards(day_cards, on=now.date()), at + timedelta(seconds=offset))
            times[name].append(time.perf_counter() - started)
        times["total"].append(sum(times[name][-1] for name in ("new", "unchanged", "all changed")))
    return {name: statistics.median(values) for name, values in times.items()}


def reader_params(now: datetime, race_id: str) -> dict:
    from darkhorses.core.clock import day_start, uk_date
    today = uk_date(now)
    return {"today": today, "tomorrow": today + timedelta(days=1), "now": now, "course": "%a%",
            "bookmaker": "bet365", "race": race_id, "day": day_start(today - timedelta(days=1)),
            "day_end": day_start(today), "track": "%a%", "year_start": day_start(today - timedelta(days=365)),
            "week_start": day_start(today - timedelta(days=7))}


def reader_plans(now: datetime, race_id: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each reader query, printed."""
    from sqlalchemy import text

    from darkhorses.db import session_scope
    params = reader_params(now, race_id)
    with session_scope() as session:
        for name, sql in READERS.items():
            plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql), params).scalars().all()
            print(f"plan of reader {name}:")
            print("\n".join("    " + line for line in plan))


def reader_figures(now: datetime, race_id: str, old_race: str) -> dict[str, tuple[float, float]]:
    from sqlalchemy import text

    from darkhorses.db import session_scope
    from darkhorses.stats.charts import race_series
    params = reader_params(now, race_id)
    figures = {}
    with session_scope() as session:
        for name, sql in READERS.items():
            figures[name] = timed(lambda sql=sql: session.execute(text(sql), params).all(), REPEATS)
        figures["chart (today's race)"] = timed(lambda: race_series(session, race_id), REPEATS)
        figures["chart (a settled race)"] = timed(lambda: race_series(session, old_race), REPEATS)
    return figures


# The tables whose bytes a live price and a history row cost (present ones counted).
LIVE_TABLES = ("ra_live_prices", "ra_live_race_facts", "ra_live_runner_facts", "ra_live_book_facts")
HISTORY_TABLES = ("ra_odds_moves", "ra_live_runners", "ra_bookmaker_keys")
YEAR_TARGET_GB = 4.0


def row_counts(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                  for table in ("ra_live_prices", "ra_odds_moves")}
    engine.dispose()
    return counts


def sizes(url: str) -> list[tuple[str, int, int]]:
    """(table, heap + toast bytes, index bytes), a partitioned table with its partitions."""
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT t.relname, sum(pg_table_size(p.relid)), sum(pg_indexes_size(p.relid)) "
            "FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(t.oid) UNION SELECT t.oid) p "
            "WHERE n.nspname = 'public' AND t.relkind IN ('r', 'p') AND NOT t.relispartition "
            "GROUP BY t.relname ORDER BY sum(pg_total_relation_size(p.relid)) DESC")).all()
    engine.dispose()
    return [(name, int(table or 0), int(index or 0)) for name, table, index in rows]


@contextmanager
def _phase(label: str):
    started = time.perf_counter()
    print(f"  .. {label}", flush=True)
    yield
    print(f"  .. {label}: {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep-db", metavar="NAME", help="leave the filled database behind under this name")
    parser.add_argument("--plans", action="store_true", help="print each reader query's plan at DAYS days")
    args = parser.parse_args()
    n_days = max(1, args.days)
    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    from darkhorses.core.clock import uk_date
    today = uk_date(now)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        cards = pool.apply(build_day, (60, 12, now))
        template = pool.apply(build_template, (cards,))
    all_days = [today - timedelta(days=i) for i in range(1, n_days + 1)]      # newest first
    recent, older = all_days[:BASELINE_DAYS], all_days[BASELINE_DAYS:]
    failures, output = [], tempfile.mkdtemp(prefix="darkhorses_year_")

    with scratch_database() as url:
        with _phase("live cycle on an empty database"):
            empty_cycle = live_cycles(cards, now)
        empty_readers = reader_figures(now, "rac_bench_0_0", "none")
        copy_seconds, copied = copy_baseline(url)
    copy_per_cycle = copy_seconds / copied * len(cards) * len(cards[0]["runners"]) * len(cards[0]["runners"][0]["odds"])
    build_started = time.perf_counter()
    with scratch_database(keep_as=args.keep_db) as url:
        make_partitions(all_days[-1], today + timedelta(days=62))
        with _phase(f"load {len(recent)} days"):
            load_days(url, template, sorted(recent))
            vacuum(url)
        first30, stats30, worst30, parts30 = stats_job(now, output)
        with _phase(f"load {len(older)} more days"):
            load_days(url, template, sorted(older))
            vacuum(url)
        build_seconds = time.perf_counter() - build_started
        first_n, stats_n, worst_n, parts_n = stats_job(now, output)
        with _phase("live cycle on the full database"):
            full_cycle = live_cycles(cards, now)
        readers = reader_figures(now, "rac_bench_0_0", f"{cards[0]['race_id']}_{all_days[-1]:%Y%m%d}")
        if args.plans:
            reader_plans(now, "rac_bench_0_0")
        table_sizes = sizes(url)
        counts = row_counts(url)

    print(f"year benchmark: {n_days} days x (18,720 live prices, ~100k history rows, 720 results); "
          f"build {build_seconds:.0f} s")
    ratio = stats_n / stats30 if stats30 else float("inf")
    print(f"stats job at {len(recent)} days: p50 {stats30:.3f} s  max {worst30:.3f} s  (first run {first30:.2f} s)")
    print(f"stats job at {n_days} days: p50 {stats_n:.3f} s  max {worst_n:.3f} s  (first run after loading "
          f"{len(older)} days {first_n:.2f} s)  ratio to {len(recent)} days {ratio:.2f} (target <= 1.5, < 2 s)")
    print("stats job parts (s): " + ", ".join(f"{name} {parts30[name]:.3f} -> {parts_n[name]:.3f}" for name in parts_n))
    if ratio > 1.5 or stats_n >= 2.0:
        failures.append(f"stats job {stats_n:.3f} s, ratio {ratio:.2f}")
    for name, (p50, worst) in readers.items():
        limit = 0.200 if name.startswith("chart") else 0.050
        print(f"reader {name:<32} p50 {p50 * 1000:8.1f} ms  max {worst * 1000:8.1f} ms  "
              f"(target < {limit * 1000:.0f} ms; "
              f"today's races alone: p50 {empty_readers[name][0] * 1000:.1f} ms)")
        if p50 >= limit:
            failures.append(f"{name} p50 {p50 * 1000:.1f} ms")
    cycle_ratio = full_cycle["total"] / empty_cycle["total"]
    print(f"live cycle (new, unchanged, all changed): {full_cycle['total']:.3f} s vs {empty_cycle['total']:.3f} s "
          f"on an empty database = {cycle_ratio:.2f}x (target <= 1.2); each: " + ", ".join(
              f"{name} {full_cycle[name]:.3f} vs {empty_cycle[name]:.3f} s"
              for name in ("new", "unchanged", "all changed")))
    if cycle_ratio > 1.2:
        failures.append(f"live cycle {cycle_ratio:.2f}x")
    full_copy, none_full = empty_cycle["all changed"] / copy_per_cycle, empty_cycle["unchanged"] / copy_per_cycle
    print(f"live cycle against COPY of the same rows into one table ({copy_per_cycle:.3f} s): all changed "
          f"{full_copy:.2f}x (target <= 3), unchanged {none_full:.2f}x (target < 0.2), new "
          f"{empty_cycle['new'] / copy_per_cycle:.2f}x")
    if full_copy > 3 or none_full >= 0.2:
        failures.append(f"live cycle all changed {full_copy:.2f}x COPY, unchanged {none_full:.2f}x")
    total = sum(t + i for _, t, i in table_sizes)
    print(f"sizes after {n_days} days (table + indexes):")
    for name, table, index in table_sizes:
        if table + index >= 1 << 20:
            print(f"  {name:<24} table {table / 2**20:9.1f} MB  indexes {index / 2**20:9.1f} MB")
    by_name = {name: table + index for name, table, index in table_sizes}
    live_bytes = sum(by_name.get(name, 0) for name in LIVE_TABLES)
    history_bytes = sum(by_name.get(name, 0) for name in HISTORY_TABLES)
    print(f"bytes per live price: {live_bytes / max(counts['ra_live_prices'], 1):.0f} "
          f"({counts['ra_live_prices']:,} prices; {' + '.join(LIVE_TABLES)}, with indexes)")
    print(f"bytes per history row: {history_bytes / max(counts['ra_odds_moves'], 1):.0f} "
          f"({counts['ra_odds_moves']:,} rows; {' + '.join(HISTORY_TABLES)}, with indexes)")
    year = total / n_days * 365 / 2**30
    print(f"disk: {total / 2**30:.2f} GB in all = {total / n_days * 30.44 / 2**30:.2f} GB a month, "
          f"{year:.2f} GB a year (target <= {YEAR_TARGET_GB:g} GB)")
    print(f"sizing line: | a year of UK + IRE (live prices, every move, results) | {year:.1f} GB "
          f"(history {history_bytes / n_days * 365 / 2**30:.1f}, live prices {live_bytes / n_days * 365 / 2**30:.1f}, "
          f"the rest {(total - history_bytes - live_bytes) / n_days * 365 / 2**30:.1f}) |")
    if year > YEAR_TARGET_GB:
        failures.append(f"a year {year:.2f} GB")
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))


if __name__ == "__main__":
    main()
