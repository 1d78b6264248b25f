"""A database as the replaced service left it: its DDL (fixtures/legacy_schema.sql, from the
contract) and several hundred rows carrying its known faults, in a database of its own."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support import scratch_database

DDL = Path(__file__).parent / "fixtures" / "legacy_schema.sql"
OLD_BOOKMAKERS = (("betfair", "Betfair", "exchange"), ("smarkets", "Smarkets", "exchange"),
                  ("matchbook", "Matchbook", "exchange"), ("betdaq", "Betdaq", "exchange"),
                  ("bet365", "Bet365", "fixed"), ("williamhill", "William Hill", "fixed"),
                  ("paddypower", "Paddy Power", "fixed"), ("ladbrokes", "Ladbrokes", "fixed"),
                  ("coral", "Coral", "fixed"), ("skybet", "Sky Bet", "fixed"), ("betfred", "Betfred", "fixed"),
                  ("unibet", "Unibet", "fixed"), ("betvictor", "BetVictor", "fixed"), ("betway", "Betway", "fixed"),
                  ("boylesports", "BoyleSports", "fixed"), ("888sport", "888sport", "fixed"))
TRACKS = ("Kempton", "Ascot", "Leopardstown", "Naas")  # the last two are Irish
RACES_PER_DATE, RUNNERS = 8, 10
# Per date: races 0-3 carry a 12-hour race_time (1:30 .. 4:30 for 13:30 .. 16:30), races 4-7
# the right one; races 2 (Leopardstown) and 7 (Naas) say 'GB' for an Irish race.
TWELVE_HOUR_PER_DATE = 4 * RUNNERS
GB_FOR_IRISH_PER_DATE = 2 * RUNNERS
# Contract columns per table, in the order the tests read them (primary key first).
CONTRACT = {
    "ra_bookmakers": ("bookmaker_id", "bookmaker_name", "bookmaker_type", "active", "created_at"),
    "ra_odds_live": ("id", "race_id", "horse_id", "bookmaker_id", "race_date", "race_time", "off_dt", "course",
                     "race_name", "race_class", "race_type", "distance", "going", "runners", "horse_name",
                     "horse_number", "jockey", "trainer", "draw", "weight", "age", "form", "bookmaker_name",
                     "bookmaker_type", "market_type", "odds_decimal", "odds_fractional", "market_status",
                     "in_play", "odds_timestamp", "fetched_at", "updated_at"),
    "ra_odds_statistics": ("id", "fetch_timestamp", "race_id", "races_count", "horses_count", "bookmakers_found",
                           "total_odds_fetched", "bookmaker_list", "fetch_duration_ms", "errors_count",
                           "created_at"),
    "ra_odds_historical": ("racing_bet_data_id", "date_of_race", "country", "track", "race_time", "race_name",
                           "going", "race_type", "distance", "race_class", "runners_count", "horse_name",
                           "official_rating", "age", "weight", "jockey", "trainer", "headgear", "stall_number",
                           "sp_favorite_position", "industry_sp", "finishing_position", "winning_distance",
                           "ip_min", "ip_max", "pre_race_min", "pre_race_max", "forecasted_odds", "sp_win_return",
                           "ew_return", "place_return", "data_source", "file_source", "created_at", "updated_at",
                           "match_timestamp"),
}


def own_database():
    """An empty PostgreSQL database for one test, dropped afterwards."""
    return scratch_database("darkhorses_test_legacy")


def build_legacy(url: str, result_dates: list[date]) -> None:
    """The old service's schema and rows: 16 bookmakers, 300 live prices, 20 fetch records and
    RACES_PER_DATE x RUNNERS results per date (no ids, faults as described above)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(DDL.read_text())
        for bookmaker_id, name, kind in OLD_BOOKMAKERS:
            conn.execute(text("INSERT INTO ra_bookmakers (bookmaker_id, bookmaker_name, bookmaker_type, created_at) "
                              "VALUES (:i, :n, :t, '2024-01-01T00:00:00Z')"), {"i": bookmaker_id, "n": name, "t": kind})
        conn.execute(text("INSERT INTO ra_odds_live (race_id, horse_id, bookmaker_id, race_date, race_time, off_dt, "
                          "course, race_name, runners, horse_name, horse_number, draw, weight, age, bookmaker_name, "
                          "bookmaker_type, odds_decimal, odds_fractional, odds_timestamp, fetched_at, updated_at) "
                          "VALUES (:race, :horse, :book, :day, :clock, :off, 'Kempton', 'Old Race', 10, :name, :n, :n, "
                          "'9-7', 4, :bname, :kind, :price, '5/2', :off, :off, :off)"),
                     [{"race": f"rac_old_{r}", "horse": f"hrs_old_{h}", "book": b[0], "bname": b[1], "kind": b[2],
                       "day": date(2025, 10, 1), "clock": time(14 + r, 10), "name": f"Old Horse {h}", "n": h + 1,
                       "off": datetime(2025, 10, 1, 13 + r, 10, tzinfo=timezone.utc), "price": 2.5 + h / 8}
                      for r in range(3) for h in range(RUNNERS) for b in OLD_BOOKMAKERS[:10]])
        conn.execute(text("INSERT INTO ra_odds_statistics (fetch_timestamp, races_count, horses_count, "
                          "bookmakers_found, total_odds_fetched, bookmaker_list, fetch_duration_ms, errors_count, "
                          "created_at) VALUES (:at, 3, 30, 10, 300, :books, 1234.5, 0, :at)"),
                     [{"at": datetime(2025, 10, 1, 12, tzinfo=timezone.utc) + timedelta(minutes=5 * i),
                       "books": [b[0] for b in OLD_BOOKMAKERS[:10]]} for i in range(20)])
        results = [_result_row(day, r, h)
                   for day in result_dates for r in range(RACES_PER_DATE) for h in range(RUNNERS)]
        if not results:
            return
        conn.execute(text("INSERT INTO ra_odds_historical (date_of_race, country, track, race_time, race_name, going, "
                          "race_type, distance, race_class, runners_count, horse_name, official_rating, age, weight, "
                          "jockey, trainer, stall_number, sp_favorite_position, industry_sp, finishing_position, "
                          "winning_distance, pre_race_min, pre_race_max, sp_win_return, data_source, created_at, "
                          "updated_at, match_timestamp) VALUES (:day, :country, :track, :clock, NULL, 'Good', 'Flat', "
                          "'1m', 4, 10, :horse, 70, 4, '9-7', 'J Old', 'T Old', :h, :h, :sp, :pos, '1', :sp, :sp, "
                          ":ret, 'old-service', :stamp, :stamp, NULL)"),
                     results)
    engine.dispose()


def _result_row(day: date, race: int, horse: int) -> dict:
    track = TRACKS[race % 4]
    irish = track in ("Leopardstown", "Naas")
    return {"day": datetime(day.year, day.month, day.day, tzinfo=timezone.utc),
            "country": "GB" if race in (2, 7) or not irish else "IRE", "track": track,
            "clock": time(race + 1, 30) if race < 4 else time(12 + race, 0),
            "horse": f"Old {day:%m%d} {race}-{horse}", "h": horse + 1, "sp": 2.0 + horse,
            "pos": str(horse + 1), "ret": 3.0 if horse == 0 else 0.0,
            "stamp": datetime(day.year, day.month, day.day, 23, tzinfo=timezone.utc)}


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every contract column of every old table, row by row in key order (through the view
    for ra_odds_live once adopted: that is what the readers see)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {table: [tuple(r) for r in conn.execute(text(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {columns[0]}"))]
            for table, columns in CONTRACT.items()}
    engine.dispose()
    return rows


def old_rows(after: dict, before: dict) -> dict:
    """The rows of `after` whose key was already in `before`: new rows (ours) left out."""
    return {table: [r for r in rows if r[0] in {b[0] for b in before[table]}] for table, rows in after.items()}
