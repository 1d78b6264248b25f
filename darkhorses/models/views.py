"""The view `ra_odds_live`: the replaced service's table as its readers know it.

Since migration 0009 it reads four narrow tables (a race's facts once, a runner's once, each
bookmaker name once, and a narrow price row); before, one wide table (`create_live_view_sql`,
what migrations 0003-0008 and adoption build). Readers take `fetched_at` as "when this
price was last confirmed". The collector writes a price row only when it changes and stamps
each race once per check (`ra_live_races`), so the view takes the race's last check, falling
back to the row's own time (adopted rows, races the loop never tracked).
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
    """The view over the wide table ra_odds_live_prices (migrations 0003-0008)."""
    columns = ", ".join(f"p.{c}" for c in LIVE_VIEW_COLUMNS)
    ours = ", ".join(f"p.{c}" for c in LIVE_VIEW_OURS)
    return (f"CREATE VIEW {LIVE_VIEW} AS SELECT {columns}, "
            "COALESCE(r.fetched_at, p.fetched_at) AS fetched_at, p.updated_at, "
            f"{ours} FROM ra_odds_live_prices p LEFT JOIN ra_live_races r ON r.race_id = p.race_id")


DROP_LIVE_VIEW = f"DROP VIEW IF EXISTS {LIVE_VIEW}"

# -- the narrow live prices (migration 0009) ---------------------------------------------------
RACE_FACTS = ("race_date", "race_time", "off_dt", "course", "course_id", "country", "race_name", "race_class",
              "race_type", "distance", "going", "runners")
RUNNER_FACTS = ("horse_name", "horse_number", "draw", "jockey", "trainer", "age", "weight", "form")
BOOK_FACTS = ("bookmaker_name", "bookmaker_type")
# ra_live_prices.market_status_code is the index of ra_odds_live.market_status in this tuple.
MARKET_STATUSES = ("OPEN", "CLOSED", "ABANDONED", "NON_RUNNER")
# A price row's own columns, as the view gives them (its stamps, flags and short text).
PRICE_COLUMNS = ("market_type", "odds_fractional", "in_play", "odds_timestamp", "ew_places", "ew_denom",
                 "created_at")


def status_code(status: str | None) -> int | None:
    """ra_live_prices.market_status_code of a status text (None for None)."""
    return None if status is None else MARKET_STATUSES.index(status)


def status_of_code(column: str) -> str:
    return f"CASE {column} " + " ".join(f"WHEN {code} THEN '{name}'" for code, name in enumerate(MARKET_STATUSES)) \
        + " END"


def code_of_status(column: str) -> str:
    """The code of a status text; NULL for NULL, and for a text not in MARKET_STATUSES (none written)."""
    return f"CASE {column} " + " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(MARKET_STATUSES)) \
        + " END"


def odds_of_x10000(column: str, dialect: str) -> str:
    """numeric(10,3) on PostgreSQL, as the wide table had it; a float rounded alike on SQLite."""
    if dialect == "postgresql":
        return f"CAST(CAST({column} AS numeric) / {PRICE_SCALE} AS numeric(10,3))"
    return f"round(CAST({column} AS REAL) / {PRICE_SCALE}, 3)"


def narrow_live_select(dialect: str, fetched_at: str = "COALESCE(r.fetched_at, p.fetched_at)") -> str:
    """Every column of the view (`fetched_at` as given: the row's own, for a downgrade), from
    the narrow tables, with the wide table's types and values. Every join is LEFT on a unique
    key: the same rows as inner joins (each price has its runner, race, bookmaker and book
    facts), but PostgreSQL drops a LEFT join whose columns a query does not read (never an
    inner one), so "races today" reads race facts, runners and the prices' key alone."""
    column = {
        "id": "p.id", "race_id": "CAST(u.race_id AS text)", "horse_id": "CAST(u.horse_id AS text)",
        "bookmaker_id": "CAST(b.bookmaker_id AS text)",
        **{c: f"f.{c}" for c in RACE_FACTS}, **{c: f"h.{c}" for c in RUNNER_FACTS}, **{c: f"k.{c}" for c in BOOK_FACTS},
        **{c: f"p.{c}" for c in PRICE_COLUMNS}, "odds_fractional": "CAST(p.odds_fractional AS text)",
        "odds_decimal": odds_of_x10000("p.odds_x10000", dialect),
        "market_status": f"CAST({status_of_code('p.market_status_code')} AS text)",
    }
    return ("SELECT " + ", ".join(f"{column[c]} AS {c}" for c in LIVE_VIEW_COLUMNS)
            + f", {fetched_at} AS fetched_at, p.updated_at, "
            + ", ".join(f"{column[c]} AS {c}" for c in LIVE_VIEW_OURS)
            + ", p.withdrawn_at"  # not the contract's: ours (non-runners), as the wide table had it
            + " FROM ra_live_prices p LEFT JOIN ra_live_runners u ON u.runner_key = p.runner_key"
            " LEFT JOIN ra_live_race_facts f ON f.race_id = u.race_id"
            " LEFT JOIN ra_live_runner_facts h ON h.runner_key = p.runner_key"
            " LEFT JOIN ra_bookmaker_keys b ON b.bookmaker_key = p.bookmaker_key"
            " LEFT JOIN ra_live_book_facts k ON k.book_facts_key = p.book_facts_key"
            " LEFT JOIN ra_live_races r ON r.race_id = u.race_id")


def create_narrow_live_view_sql(dialect: str) -> str:
    """The view over the narrow tables (migration 0009 on)."""
    return f"CREATE VIEW {LIVE_VIEW} AS {narrow_live_select(dialect)}"


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


# An INSERT into ra_odds_live (a row at a time: tests, repairs by hand) lands in the narrow
# tables: the race's and runner's facts upserted (the newest insert wins, as the newest card
# does), runner, bookmaker and book facts numbered when new, then the price itself (a second
# price for the same runner and bookmaker is refused, as the wide table's unique key did).
_NEW_RACE_FACTS = ", ".join(f"NEW.{c}" for c in RACE_FACTS)
_NEW_RUNNER_FACTS = ", ".join(f"NEW.{c}" for c in RUNNER_FACTS)
_PRICE_INSERT = (
    "INSERT INTO ra_live_prices (id, odds_timestamp, fetched_at, created_at, updated_at, runner_key, odds_x10000, "
    "bookmaker_key, book_facts_key, market_status_code, in_play, odds_fractional, ew_places, ew_denom, market_type) "
    "SELECT {id}, NEW.odds_timestamp, NEW.fetched_at, NEW.created_at, NEW.updated_at, u.runner_key, "
    f"CAST(round(NEW.odds_decimal * {PRICE_SCALE}) AS INTEGER), b.bookmaker_key, k.book_facts_key, "
    f"{code_of_status('NEW.market_status')}, NEW.in_play, NEW.odds_fractional, NEW.ew_places, NEW.ew_denom, "
    "NEW.market_type FROM ra_live_runners u, ra_bookmaker_keys b, ra_live_book_facts k "
    "WHERE u.race_id = NEW.race_id AND u.horse_id = NEW.horse_id AND b.bookmaker_id = NEW.bookmaker_id "
    "AND k.bookmaker_name = NEW.bookmaker_name AND k.bookmaker_type {same} NEW.bookmaker_type;")
_BOOK_FACTS_INSERT = (
    "INSERT INTO ra_live_book_facts (bookmaker_name, bookmaker_type) SELECT NEW.bookmaker_name, NEW.bookmaker_type "
    "WHERE NOT EXISTS (SELECT 1 FROM ra_live_book_facts k WHERE k.bookmaker_name = NEW.bookmaker_name "
    "AND k.bookmaker_type {same} NEW.bookmaker_type);")
LIVE_INSERT_TRIGGER = {
    "postgresql": [
        "CREATE FUNCTION ra_odds_live_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO ra_live_runners (race_id, horse_id) VALUES (NEW.race_id, NEW.horse_id) ON CONFLICT DO NOTHING; "
        "INSERT INTO ra_bookmaker_keys (bookmaker_id) VALUES (NEW.bookmaker_id) ON CONFLICT DO NOTHING; "
        f"INSERT INTO ra_live_race_facts (race_id, {', '.join(RACE_FACTS)}) VALUES (NEW.race_id, {_NEW_RACE_FACTS}) "
        "ON CONFLICT (race_id) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in RACE_FACTS) + "; "
        f"INSERT INTO ra_live_runner_facts (runner_key, {', '.join(RUNNER_FACTS)}) SELECT u.runner_key, "
        f"{_NEW_RUNNER_FACTS} FROM ra_live_runners u WHERE u.race_id = NEW.race_id AND u.horse_id = NEW.horse_id "
        "ON CONFLICT (runner_key) DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in RUNNER_FACTS) + "; "
        + _BOOK_FACTS_INSERT.format(same="IS NOT DISTINCT FROM")
        + _PRICE_INSERT.format(id="COALESCE(NEW.id, nextval(pg_get_serial_sequence('ra_live_prices', 'id')))",
                               same="IS NOT DISTINCT FROM")
        + " RETURN NEW; END $$",
        f"CREATE TRIGGER ra_odds_live_insert INSTEAD OF INSERT ON {LIVE_VIEW} "
        "FOR EACH ROW EXECUTE FUNCTION ra_odds_live_insert()",
        # The wide table's defaults, for an INSERT that leaves these columns out.
        f"ALTER VIEW {LIVE_VIEW} ALTER COLUMN market_status SET DEFAULT 'OPEN'",
        f"ALTER VIEW {LIVE_VIEW} ALTER COLUMN in_play SET DEFAULT false",
        f"ALTER VIEW {LIVE_VIEW} ALTER COLUMN market_type SET DEFAULT 'WIN'",
        f"ALTER VIEW {LIVE_VIEW} ALTER COLUMN bookmaker_type SET DEFAULT 'fixed'",
        f"ALTER VIEW {LIVE_VIEW} ALTER COLUMN fetched_at SET DEFAULT CURRENT_TIMESTAMP",
        f"ALTER VIEW {LIVE_VIEW} ALTER COLUMN updated_at SET DEFAULT CURRENT_TIMESTAMP"],
    "sqlite": [
        f"CREATE TRIGGER ra_odds_live_insert INSTEAD OF INSERT ON {LIVE_VIEW} BEGIN "
        "INSERT OR IGNORE INTO ra_live_runners (race_id, horse_id) VALUES (NEW.race_id, NEW.horse_id); "
        "INSERT OR IGNORE INTO ra_bookmaker_keys (bookmaker_id) VALUES (NEW.bookmaker_id); "
        f"INSERT OR REPLACE INTO ra_live_race_facts (race_id, {', '.join(RACE_FACTS)}) "
        f"VALUES (NEW.race_id, {_NEW_RACE_FACTS}); "
        f"INSERT OR REPLACE INTO ra_live_runner_facts (runner_key, {', '.join(RUNNER_FACTS)}) SELECT u.runner_key, "
        f"{_NEW_RUNNER_FACTS} FROM ra_live_runners u WHERE u.race_id = NEW.race_id AND u.horse_id = NEW.horse_id; "
        + _BOOK_FACTS_INSERT.format(same="IS")
        # SQLite has no sequence: a new row's id is one past the largest (ids are never reused there).
        + _PRICE_INSERT.format(id="COALESCE(NEW.id, (SELECT COALESCE(max(id), 0) + 1 FROM ra_live_prices))",
                               same="IS")
        + " END"],
}
DROP_LIVE_INSERT_TRIGGER = {
    "postgresql": ["DROP FUNCTION IF EXISTS ra_odds_live_insert() CASCADE"],
    "sqlite": ["DROP TRIGGER IF EXISTS ra_odds_live_insert"],
}


# -- wide rows into the narrow tables (migration 0009; bench/stats.py fills a wide staging table) --
_PRICE_COLUMNS = ("id", "odds_timestamp", "fetched_at", "created_at", "updated_at", "withdrawn_at", "runner_key",
                  "odds_x10000", "bookmaker_key", "book_facts_key", "market_status_code", "in_play",
                  "odds_fractional", "ew_places", "ew_denom", "market_type")


def _same(dialect: str) -> str:
    return "IS NOT DISTINCT FROM" if dialect == "postgresql" else "IS"


def _newest(dialect: str, wide: str, partition: str, columns: str) -> str:
    """The wide rows, one per `partition`: the newest written (the card last written)."""
    if dialect == "postgresql":
        return (f"SELECT DISTINCT ON ({partition}) {columns} FROM {wide} w "
                f"ORDER BY {partition}, w.updated_at DESC NULLS LAST, w.id DESC")
    return (f"SELECT {columns} FROM (SELECT w.*, row_number() OVER (PARTITION BY {partition} "
            f"ORDER BY w.updated_at DESC, w.id DESC) AS newest FROM {wide} w) w WHERE newest = 1")


def wide_facts_sql(dialect: str, wide: str) -> list[str]:
    """Statements numbering the runners and bookmakers of the wide table `wide` not numbered yet,
    and filling the race, runner and book facts from it (a race's and runner's: its newest row's)."""
    runner = _newest(dialect, wide, "w.race_id, w.horse_id",
                     "w.race_id, w.horse_id, " + ", ".join(f"w.{c}" for c in RUNNER_FACTS))
    return [
        f"INSERT INTO ra_live_runners (race_id, horse_id) SELECT DISTINCT w.race_id, w.horse_id FROM {wide} w "
        "WHERE NOT EXISTS (SELECT 1 FROM ra_live_runners u WHERE u.race_id = w.race_id "
        "AND u.horse_id = w.horse_id) ORDER BY w.race_id, w.horse_id",
        f"INSERT INTO ra_bookmaker_keys (bookmaker_id) SELECT DISTINCT w.bookmaker_id FROM {wide} w "
        "WHERE NOT EXISTS (SELECT 1 FROM ra_bookmaker_keys b WHERE b.bookmaker_id = w.bookmaker_id) "
        "ORDER BY w.bookmaker_id",
        f"INSERT INTO ra_live_race_facts (race_id, {', '.join(RACE_FACTS)}) "
        + _newest(dialect, wide, "w.race_id", "w.race_id, " + ", ".join(f"w.{c}" for c in RACE_FACTS)),
        f"INSERT INTO ra_live_runner_facts (runner_key, {', '.join(RUNNER_FACTS)}) "
        f"SELECT u.runner_key, {', '.join(f'n.{c}' for c in RUNNER_FACTS)} FROM ({runner}) n "
        "JOIN ra_live_runners u ON u.race_id = n.race_id AND u.horse_id = n.horse_id",
        f"INSERT INTO ra_live_book_facts ({', '.join(BOOK_FACTS)}) SELECT DISTINCT {', '.join(BOOK_FACTS)} "
        f"FROM {wide} w WHERE NOT EXISTS (SELECT 1 FROM ra_live_book_facts k WHERE k.bookmaker_name = "
        f"w.bookmaker_name AND k.bookmaker_type {_same(dialect)} w.bookmaker_type) ORDER BY 1, 2",
    ]


def wide_prices_sql(dialect: str, wide: str, where: str = "") -> str:
    """The INSERT of the wide table's prices (those `where` selects) into ra_live_prices, once
    its runners, bookmakers and book facts are numbered (wide_facts_sql)."""
    return (
        f"INSERT INTO ra_live_prices ({', '.join(_PRICE_COLUMNS)}) SELECT w.id, w.odds_timestamp, w.fetched_at, "
        "w.created_at, w.updated_at, w.withdrawn_at, u.runner_key, "
        f"CAST(round(w.odds_decimal * {PRICE_SCALE}) AS INTEGER), b.bookmaker_key, k.book_facts_key, "
        f"{code_of_status('w.market_status')}, w.in_play, w.odds_fractional, w.ew_places, w.ew_denom, w.market_type "
        f"FROM {wide} w JOIN ra_live_runners u ON u.race_id = w.race_id AND u.horse_id = w.horse_id "
        "JOIN ra_bookmaker_keys b ON b.bookmaker_id = w.bookmaker_id JOIN ra_live_book_facts k "
        f"ON k.bookmaker_name = w.bookmaker_name AND k.bookmaker_type {_same(dialect)} w.bookmaker_type {where}")
