"""The view `ra_odds_live`: the replaced service's table as its readers know it.

Readers take `fetched_at` as "when this price was last confirmed". The collector writes a
price row only when it changes and stamps each race once per check (`ra_live_races`), so
the view takes the race's last check, falling back to the row's own time (adopted rows,
races the loop never tracked). Plain SQL, valid on PostgreSQL and SQLite.
"""
from __future__ import annotations

LIVE_VIEW = "ra_odds_live"
# Every column of the physical table but `fetched_at`, in the contract's order, ours after.
LIVE_VIEW_COLUMNS = (
    "id", "race_id", "horse_id", "bookmaker_id", "race_date", "race_time", "off_dt", "course",
    "race_name", "race_class", "race_type", "distance", "going", "runners", "horse_name",
    "horse_number", "jockey", "trainer", "draw", "weight", "age", "form", "bookmaker_name",
    "bookmaker_type", "market_type", "odds_decimal", "odds_fractional", "market_status", "in_play",
    "odds_timestamp")
LIVE_VIEW_OURS = ("course_id", "country", "ew_places", "ew_denom", "created_at")


def create_live_view_sql() -> str:
    columns = ", ".join(f"p.{c}" for c in LIVE_VIEW_COLUMNS)
    ours = ", ".join(f"p.{c}" for c in LIVE_VIEW_OURS)
    return (f"CREATE VIEW {LIVE_VIEW} AS SELECT {columns}, "
            "COALESCE(r.fetched_at, p.fetched_at) AS fetched_at, p.updated_at, "
            f"{ours} FROM ra_odds_live_prices p LEFT JOIN ra_live_races r ON r.race_id = p.race_id")


DROP_LIVE_VIEW = f"DROP VIEW IF EXISTS {LIVE_VIEW}"


# ra_odds_history: the moves (ra_odds_moves, narrow) with their ids as text again.
HISTORY_VIEW = "ra_odds_history"
PRICE_SCALE = 10_000  # ra_odds_moves.odds_x10000 = round(odds_decimal * PRICE_SCALE)
# ra_odds_moves.source_code is the index of ra_odds_history.source in this tuple (models.live.SOURCES).
SOURCES = ("observed", "closeout")
_SOURCE_OF_CODE = "CASE m.source_code " + " ".join(
    f"WHEN {code} THEN '{name}'" for code, name in enumerate(SOURCES)) + " END"
_CODE_OF_SOURCE = "CASE NEW.source " + " ".join(
    f"WHEN '{name}' THEN {code}" for code, name in enumerate(SOURCES)) + " ELSE 0 END"
CREATE_HISTORY_VIEW = (
    f"CREATE VIEW {HISTORY_VIEW} AS SELECT u.race_id, u.horse_id, b.bookmaker_id, "
    f"CAST(m.odds_x10000 AS DOUBLE PRECISION) / {PRICE_SCALE} AS odds_decimal, m.odds_fractional, "
    f"m.changed_at, m.observed_at, {_SOURCE_OF_CODE} AS source FROM ra_odds_moves m "
    "JOIN ra_live_runners u ON u.runner_key = m.runner_key "
    "JOIN ra_bookmaker_keys b ON b.bookmaker_key = m.bookmaker_key")
DROP_HISTORY_VIEW = f"DROP VIEW IF EXISTS {HISTORY_VIEW}"

# An INSERT into the view (a row at a time: tests, repairs by hand) lands in ra_odds_moves,
# numbering a runner or bookmaker it has not seen.
_MOVE_FROM_NEW = (
    "INSERT INTO ra_odds_moves (changed_at, observed_at, runner_key, odds_x10000, bookmaker_key, source_code, "
    "odds_fractional) SELECT NEW.changed_at, NEW.observed_at, u.runner_key, "
    f"CAST(round(NEW.odds_decimal * {PRICE_SCALE}) AS INTEGER), b.bookmaker_key, {_CODE_OF_SOURCE}, "
    "NEW.odds_fractional FROM ra_live_runners u, ra_bookmaker_keys b "
    "WHERE u.race_id = NEW.race_id AND u.horse_id = NEW.horse_id AND b.bookmaker_id = NEW.bookmaker_id;")
HISTORY_INSERT_TRIGGER = {
    "postgresql": [
        "CREATE FUNCTION ra_odds_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO ra_live_runners (race_id, horse_id) VALUES (NEW.race_id, NEW.horse_id) ON CONFLICT DO NOTHING; "
        "INSERT INTO ra_bookmaker_keys (bookmaker_id) VALUES (NEW.bookmaker_id) ON CONFLICT DO NOTHING; "
        f"{_MOVE_FROM_NEW} RETURN NEW; END $$",
        f"CREATE TRIGGER ra_odds_history_insert INSTEAD OF INSERT ON {HISTORY_VIEW} "
        "FOR EACH ROW EXECUTE FUNCTION ra_odds_history_insert()"],
    "sqlite": [
        f"CREATE TRIGGER ra_odds_history_insert INSTEAD OF INSERT ON {HISTORY_VIEW} BEGIN "
        "INSERT OR IGNORE INTO ra_live_runners (race_id, horse_id) VALUES (NEW.race_id, NEW.horse_id); "
        "INSERT OR IGNORE INTO ra_bookmaker_keys (bookmaker_id) VALUES (NEW.bookmaker_id); "
        f"{_MOVE_FROM_NEW} END"],
}
DROP_HISTORY_INSERT_TRIGGER = {
    "postgresql": ["DROP FUNCTION IF EXISTS ra_odds_history_insert() CASCADE"],
    "sqlite": ["DROP TRIGGER IF EXISTS ra_odds_history_insert"],
}
