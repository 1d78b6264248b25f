"""The replaced service's contract: its names and types for the facts it had, ours beside them.

- ra_bookmakers: name/type -> bookmaker_name/bookmaker_type (text), + active, created_at;
  the exchange `betfair_ex` -> `betfair` (the old service's id).
- ra_odds_live -> ra_odds_live_prices (physical), and the view `ra_odds_live` over it whose
  `fetched_at` is the race's last check. race_time TIME; horse_number/draw/age integer;
  weight_lbs -> weight (text); + market_type 'WIN'; odds_decimal numeric(10,3); text columns.
- ra_odds_historical: id -> racing_bet_data_id; race_date -> date_of_race (timestamptz,
  midnight UTC of the UK date); off_dt -> match_timestamp; race_time TIME; stall ->
  stall_number; sp_fav_rank -> sp_favorite_position; beaten_distance -> winning_distance;
  win_return -> sp_win_return; prices numeric(10,4); + ip_min, ip_max, forecasted_odds,
  data_source, file_source; race_id/horse_id nullable (adopted rows have none).
- ra_odds_statistics: one row per live fetch under the old names; other runs move to
  ra_run_records. ra_collection_ledger: + legacy_rows.

PostgreSQL is altered in place. SQLite (the embedded mode) rebuilds the changed tables and
copies their rows; its downgrade is not supported (delete the file and migrate again).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa

from alembic import op
from darkhorses.db.adoption import is_adopted, undo_adoption
from darkhorses.models.views import DROP_LIVE_VIEW, create_live_view_sql
from darkhorses.racing_api.bookmakers import BOOKMAKERS

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ODDS4 = ("industry_sp", "pre_race_min", "pre_race_max", "win_return", "ew_return", "place_return")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        _sqlite_upgrade()
    else:
        _pg_bookmakers()
        _pg_live()
        _pg_historical()
    _runs_upgrade()
    op.add_column("ra_collection_ledger", sa.Column("legacy_rows", sa.Integer(), server_default=sa.text("0"),
                                                    nullable=False))
    bookmakers = sa.table("ra_bookmakers", sa.column("bookmaker_id"), sa.column("bookmaker_name"),
                          sa.column("bookmaker_type"))
    present = {r[0] for r in op.get_bind().execute(sa.text("SELECT bookmaker_id FROM ra_bookmakers"))}
    missing = [{"bookmaker_id": b.id, "bookmaker_name": b.name, "bookmaker_type": b.type}
               for b in BOOKMAKERS if b.id not in present]
    if missing:
        op.bulk_insert(bookmakers, missing)
    op.create_table('ra_adoption',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('adopted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('added', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_adoption'))
    )
    op.execute(create_live_view_sql())


# -- PostgreSQL, in place ------------------------------------------------------------------------

def _pg_bookmakers() -> None:
    op.execute("ALTER TABLE ra_bookmakers DROP CONSTRAINT IF EXISTS uq_ra_bookmakers_name")
    op.execute("ALTER TABLE ra_bookmakers RENAME COLUMN name TO bookmaker_name")
    op.execute("ALTER TABLE ra_bookmakers RENAME COLUMN type TO bookmaker_type")
    op.execute("ALTER TABLE ra_bookmakers ALTER COLUMN bookmaker_id TYPE text, "
               "ALTER COLUMN bookmaker_name TYPE text, ALTER COLUMN bookmaker_type TYPE text, "
               "ADD COLUMN active boolean DEFAULT true, ADD COLUMN created_at timestamptz DEFAULT CURRENT_TIMESTAMP")
    for table in ("ra_bookmakers", "ra_odds_live", "ra_odds_history"):
        op.execute(f"UPDATE {table} SET bookmaker_id = 'betfair' WHERE bookmaker_id = 'betfair_ex'")


def _int(column: str) -> str:
    return f"CASE WHEN {column} ~ '^[0-9]+$' THEN {column}::integer END"


def _pg_live() -> None:
    op.execute("ALTER TABLE ra_odds_live RENAME TO ra_odds_live_prices")
    op.execute("ALTER TABLE ra_odds_live_prices RENAME CONSTRAINT pk_ra_odds_live TO pk_ra_odds_live_prices")
    op.execute("ALTER TABLE ra_odds_live_prices RENAME COLUMN weight_lbs TO weight")
    op.execute("UPDATE ra_odds_live_prices SET course = COALESCE(course, ''), horse_name = COALESCE(horse_name, horse_id), "
               "bookmaker_name = COALESCE(bookmaker_name, bookmaker_id), "
               "odds_timestamp = COALESCE(odds_timestamp, updated_at) "
               "WHERE course IS NULL OR horse_name IS NULL OR bookmaker_name IS NULL OR odds_timestamp IS NULL")
    texts = ("race_id", "horse_id", "bookmaker_id", "course", "race_name", "race_class", "race_type", "distance",
             "going", "horse_name", "jockey", "trainer", "weight", "form", "bookmaker_name", "bookmaker_type",
             "odds_fractional", "market_status")
    clauses = [f"ALTER COLUMN {c} TYPE text" for c in texts]
    clauses += [f"ALTER COLUMN {c} TYPE integer USING {_int(c)}" for c in ("horse_number", "draw", "age")]
    clauses += ["ALTER COLUMN race_time TYPE time USING race_time::time",
                "ALTER COLUMN odds_decimal TYPE numeric(10,3) USING round(odds_decimal::numeric, 3)",
                "ALTER COLUMN course SET NOT NULL", "ALTER COLUMN horse_name SET NOT NULL",
                "ALTER COLUMN bookmaker_name SET NOT NULL", "ALTER COLUMN odds_timestamp SET NOT NULL",
                "ALTER COLUMN bookmaker_type SET DEFAULT 'fixed'", "ALTER COLUMN market_status SET DEFAULT 'OPEN'",
                "ALTER COLUMN in_play SET DEFAULT false", "ALTER COLUMN fetched_at SET DEFAULT CURRENT_TIMESTAMP",
                "ALTER COLUMN updated_at SET DEFAULT CURRENT_TIMESTAMP",
                "ADD COLUMN market_type text DEFAULT 'WIN'"]
    clauses += [f"ALTER COLUMN {c} DROP NOT NULL" for c in ("market_status", "in_play", "fetched_at", "created_at",
                                                             "updated_at")]
    op.execute("ALTER TABLE ra_odds_live_prices " + ", ".join(clauses))


def _pg_historical() -> None:
    renames = {"id": "racing_bet_data_id", "race_date": "date_of_race", "off_dt": "match_timestamp",
               "stall": "stall_number", "sp_fav_rank": "sp_favorite_position", "beaten_distance": "winning_distance",
               "win_return": "sp_win_return"}
    op.drop_index("ix_ra_odds_historical_race_date_track", table_name="ra_odds_historical")
    for old, new in renames.items():
        op.execute(f"ALTER TABLE ra_odds_historical RENAME COLUMN {old} TO {new}")
    texts = ("track", "race_name", "going", "race_type", "distance", "horse_name", "weight", "jockey", "trainer",
             "headgear", "finishing_position", "winning_distance")
    clauses = [f"ALTER COLUMN {c} TYPE text" for c in texts]
    clauses += [f"ALTER COLUMN {renames.get(c, c)} TYPE numeric(10,4) USING round({renames.get(c, c)}::numeric, 4)"
                for c in ODDS4]
    clauses += ["ALTER COLUMN date_of_race TYPE timestamptz USING (date_of_race::timestamp AT TIME ZONE 'UTC')",
                "ALTER COLUMN date_of_race DROP NOT NULL",
                "ALTER COLUMN race_time TYPE time USING race_time::time",
                "ALTER COLUMN country TYPE varchar(10)",
                "ALTER COLUMN race_id DROP NOT NULL", "ALTER COLUMN horse_id DROP NOT NULL",
                "ALTER COLUMN official_rating SET DEFAULT 0",
                "ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP",
                "ALTER COLUMN updated_at SET DEFAULT CURRENT_TIMESTAMP",
                "ADD COLUMN ip_min numeric(10,4)", "ADD COLUMN ip_max numeric(10,4)",
                "ADD COLUMN forecasted_odds numeric(10,4)", "ADD COLUMN data_source text",
                "ADD COLUMN file_source text DEFAULT 'Racing API'"]
    op.execute("ALTER TABLE ra_odds_historical " + ", ".join(clauses))
    op.execute("UPDATE ra_odds_historical SET ip_min = pre_race_min, ip_max = pre_race_max, "
               "data_source = 'darkhorses-workers', file_source = 'Racing API'")
    op.create_index("ix_ra_odds_historical_date_of_race_track", "ra_odds_historical", ["date_of_race", "track"])


# -- both databases: run records -------------------------------------------------------------------

def _create_statistics() -> None:
    op.create_table('ra_odds_statistics',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('fetch_timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('race_id', sa.Text(), nullable=True),
    sa.Column('races_count', sa.Integer(), nullable=True),
    sa.Column('horses_count', sa.Integer(), nullable=True),
    sa.Column('bookmakers_found', sa.Integer(), nullable=True),
    sa.Column('total_odds_fetched', sa.Integer(), nullable=True),
    sa.Column('bookmaker_list', sa.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=True),
    sa.Column('fetch_duration_ms', sa.Numeric(), nullable=True),
    sa.Column('errors_count', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=True),
    sa.Column('prices_changed', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_odds_statistics'))
    )
    op.create_index('ix_ra_odds_statistics_fetch_timestamp', 'ra_odds_statistics', ['fetch_timestamp'], unique=False)


def _create_run_records() -> None:
    op.create_table('ra_run_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=False),
    sa.Column('races', sa.Integer(), nullable=False),
    sa.Column('runners', sa.Integer(), nullable=False),
    sa.Column('prices', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_run_records'))
    )
    op.create_index('ix_ra_run_records_kind_started_at', 'ra_run_records', ['kind', 'started_at'], unique=False)


def _set_aside(table: str, indexes=(), pk: str | None = None) -> str:
    """Rename a table out of the way (its indexes and primary key name too) before its rebuild."""
    old = f"{table}_0002"
    for index in indexes:
        op.execute(f"DROP INDEX IF EXISTS {index}")
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    if pk and not _sqlite():
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {pk} TO {pk}_0002")
    return old


def _runs_upgrade() -> None:
    old = _set_aside("ra_odds_statistics", ["ix_ra_odds_statistics_kind_started_at"], "pk_ra_odds_statistics")
    _create_statistics()
    _create_run_records()
    op.execute("INSERT INTO ra_odds_statistics (fetch_timestamp, races_count, horses_count, bookmakers_found, "
               "total_odds_fetched, fetch_duration_ms, errors_count, created_at, prices_changed, detail) "
               "SELECT started_at, races, runners, bookmakers, prices, duration_seconds * 1000, errors, started_at, "
               f"changed, detail FROM {old} WHERE kind = 'live' ORDER BY id")
    op.execute("INSERT INTO ra_run_records (kind, started_at, duration_seconds, races, runners, prices, errors, "
               f"detail) SELECT kind, started_at, duration_seconds, races, runners, prices, errors, detail FROM {old} "
               "WHERE kind <> 'live' ORDER BY id")
    op.execute(f"DROP TABLE {old}")


def _runs_downgrade() -> None:
    op.drop_index('ix_ra_odds_statistics_fetch_timestamp', table_name='ra_odds_statistics')
    op.execute("ALTER TABLE ra_odds_statistics RENAME TO ra_odds_statistics_0003")
    op.execute("ALTER TABLE ra_odds_statistics_0003 RENAME CONSTRAINT pk_ra_odds_statistics TO pk_ra_odds_statistics_0003")
    op.create_table('ra_odds_statistics',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=False),
    sa.Column('races', sa.Integer(), nullable=False),
    sa.Column('runners', sa.Integer(), nullable=False),
    sa.Column('bookmakers', sa.Integer(), nullable=False),
    sa.Column('prices', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_odds_statistics'))
    )
    op.create_index('ix_ra_odds_statistics_kind_started_at', 'ra_odds_statistics', ['kind', 'started_at'], unique=False)
    op.execute("INSERT INTO ra_odds_statistics (kind, started_at, duration_seconds, races, runners, bookmakers, "
               "prices, changed, errors, detail) SELECT 'live', fetch_timestamp, COALESCE(fetch_duration_ms, 0) / 1000.0, "
               "COALESCE(races_count, 0), COALESCE(horses_count, 0), COALESCE(bookmakers_found, 0), "
               "COALESCE(total_odds_fetched, 0), COALESCE(prices_changed, 0), COALESCE(errors_count, 0), detail "
               "FROM ra_odds_statistics_0003")
    op.execute("INSERT INTO ra_odds_statistics (kind, started_at, duration_seconds, races, runners, bookmakers, "
               "prices, changed, errors, detail) SELECT kind, started_at, duration_seconds, races, runners, 0, prices, "
               "0, errors, detail FROM ra_run_records")
    op.execute("DROP TABLE ra_odds_statistics_0003")
    op.drop_index('ix_ra_run_records_kind_started_at', table_name='ra_run_records')
    op.drop_table('ra_run_records')


# -- SQLite: rebuild the changed tables, copy their rows ------------------------------------------

def _sqlite_time(column: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {column} || ':00.000000' END"


def _sqlite_int(column: str) -> str:
    return f"CASE WHEN {column} <> '' AND {column} NOT GLOB '*[^0-9]*' THEN CAST({column} AS INTEGER) END"


def _copy(new: str, old: str, columns: dict) -> None:
    # Sent as written: the time literals' colons are not bind parameters.
    op.get_bind().exec_driver_sql(f"INSERT INTO {new} ({', '.join(columns)}) SELECT {', '.join(columns.values())} FROM {old}")
    op.execute(f"DROP TABLE {old}")


def _sqlite_upgrade() -> None:
    old = _set_aside("ra_bookmakers")
    op.create_table('ra_bookmakers',
    sa.Column('bookmaker_id', sa.Text(), nullable=False),
    sa.Column('bookmaker_name', sa.Text(), nullable=False),
    sa.Column('bookmaker_type', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=True),
    sa.PrimaryKeyConstraint('bookmaker_id', name=op.f('pk_ra_bookmakers'))
    )
    _copy("ra_bookmakers", old, {"bookmaker_id": "CASE bookmaker_id WHEN 'betfair_ex' THEN 'betfair' ELSE bookmaker_id END",
                                 "bookmaker_name": "name", "bookmaker_type": "type"})
    live_indexes = ["ix_ra_odds_live_bookmaker_id_horse_id", "ix_ra_odds_live_off_dt", "ix_ra_odds_live_race_date_course"]
    old = _set_aside("ra_odds_live", live_indexes)
    op.create_table('ra_odds_live_prices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('race_id', sa.Text(), nullable=False),
    sa.Column('horse_id', sa.Text(), nullable=False),
    sa.Column('bookmaker_id', sa.Text(), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('race_time', sa.Time(), nullable=True),
    sa.Column('off_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('course', sa.Text(), nullable=False),
    sa.Column('course_id', sa.String(length=32), nullable=True),
    sa.Column('country', sa.String(length=8), nullable=True),
    sa.Column('race_name', sa.Text(), nullable=True),
    sa.Column('race_class', sa.Text(), nullable=True),
    sa.Column('race_type', sa.Text(), nullable=True),
    sa.Column('distance', sa.Text(), nullable=True),
    sa.Column('going', sa.Text(), nullable=True),
    sa.Column('runners', sa.Integer(), nullable=True),
    sa.Column('horse_name', sa.Text(), nullable=False),
    sa.Column('horse_number', sa.Integer(), nullable=True),
    sa.Column('draw', sa.Integer(), nullable=True),
    sa.Column('jockey', sa.Text(), nullable=True),
    sa.Column('trainer', sa.Text(), nullable=True),
    sa.Column('age', sa.Integer(), nullable=True),
    sa.Column('weight', sa.Text(), nullable=True),
    sa.Column('form', sa.Text(), nullable=True),
    sa.Column('bookmaker_name', sa.Text(), nullable=False),
    sa.Column('bookmaker_type', sa.Text(), server_default=sa.text("'fixed'"), nullable=True),
    sa.Column('market_type', sa.Text(), server_default=sa.text("'WIN'"), nullable=True),
    sa.Column('odds_decimal', sa.Numeric(precision=10, scale=3), nullable=True),
    sa.Column('odds_fractional', sa.Text(), nullable=True),
    sa.Column('ew_places', sa.String(length=8), nullable=True),
    sa.Column('ew_denom', sa.String(length=8), nullable=True),
    sa.Column('market_status', sa.Text(), server_default=sa.text("'OPEN'"), nullable=True),
    sa.Column('in_play', sa.Boolean(), server_default=sa.text('false'), nullable=True),
    sa.Column('odds_timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_odds_live_prices')),
    sa.UniqueConstraint('race_id', 'horse_id', 'bookmaker_id', name='uq_ra_odds_live_race_id_horse_id_bookmaker_id'),
    postgresql_with={'fillfactor': 50}
    )
    op.create_index('ix_ra_odds_live_bookmaker_id_horse_id', 'ra_odds_live_prices', ['bookmaker_id', 'horse_id'], unique=False)
    op.create_index('ix_ra_odds_live_off_dt', 'ra_odds_live_prices', ['off_dt'], unique=False)
    op.create_index('ix_ra_odds_live_race_date_course', 'ra_odds_live_prices', ['race_date', 'course'], unique=False)
    same = ("id", "race_id", "horse_id", "race_date", "off_dt", "course_id", "country", "race_name", "race_class",
            "race_type", "distance", "going", "runners", "jockey", "trainer", "form", "bookmaker_type",
            "odds_fractional", "ew_places", "ew_denom", "market_status", "in_play", "fetched_at", "created_at",
            "updated_at")
    _copy("ra_odds_live_prices", old, {**{c: c for c in same},
          "bookmaker_id": "CASE bookmaker_id WHEN 'betfair_ex' THEN 'betfair' ELSE bookmaker_id END",
          "race_time": _sqlite_time("race_time"), "course": "COALESCE(course, '')",
          "horse_name": "COALESCE(horse_name, horse_id)", "horse_number": _sqlite_int("horse_number"),
          "draw": _sqlite_int("draw"), "age": _sqlite_int("age"), "weight": "weight_lbs",
          "bookmaker_name": "COALESCE(bookmaker_name, bookmaker_id)", "odds_decimal": "round(odds_decimal, 3)",
          "odds_timestamp": "COALESCE(odds_timestamp, updated_at)"})
    old = _set_aside("ra_odds_historical", ["ix_ra_odds_historical_country", "ix_ra_odds_historical_race_date_track"])
    op.create_table('ra_odds_historical',
    sa.Column('racing_bet_data_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('race_id', sa.String(length=32), nullable=True),
    sa.Column('horse_id', sa.String(length=32), nullable=True),
    sa.Column('date_of_race', sa.DateTime(timezone=True), nullable=True),
    sa.Column('country', sa.String(length=10), nullable=True),
    sa.Column('track', sa.Text(), nullable=True),
    sa.Column('course_id', sa.String(length=32), nullable=True),
    sa.Column('race_time', sa.Time(), nullable=True),
    sa.Column('match_timestamp', sa.DateTime(timezone=True), nullable=True),
    sa.Column('race_name', sa.Text(), nullable=True),
    sa.Column('going', sa.Text(), nullable=True),
    sa.Column('race_type', sa.Text(), nullable=True),
    sa.Column('distance', sa.Text(), nullable=True),
    sa.Column('distance_f', sa.Float(), nullable=True),
    sa.Column('race_class', sa.Integer(), nullable=True),
    sa.Column('is_handicap', sa.Boolean(), nullable=True),
    sa.Column('runners_count', sa.Integer(), nullable=True),
    sa.Column('horse_name', sa.Text(), nullable=True),
    sa.Column('official_rating', sa.Integer(), server_default=sa.text('0'), nullable=True),
    sa.Column('age', sa.Integer(), nullable=True),
    sa.Column('weight', sa.Text(), nullable=True),
    sa.Column('weight_lbs', sa.Integer(), nullable=True),
    sa.Column('jockey', sa.Text(), nullable=True),
    sa.Column('jockey_id', sa.String(length=32), nullable=True),
    sa.Column('trainer', sa.Text(), nullable=True),
    sa.Column('trainer_id', sa.String(length=32), nullable=True),
    sa.Column('headgear', sa.Text(), nullable=True),
    sa.Column('stall_number', sa.Integer(), nullable=True),
    sa.Column('finishing_position', sa.Text(), nullable=True),
    sa.Column('winning_distance', sa.Text(), nullable=True),
    sa.Column('industry_sp', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('sp_fractional', sa.String(length=16), nullable=True),
    sa.Column('sp_favorite_position', sa.Integer(), nullable=True),
    sa.Column('betfair_sp', sa.Float(), nullable=True),
    sa.Column('ip_min', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('ip_max', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('pre_race_min', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('pre_race_max', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('forecasted_odds', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('last_price_before_off', sa.Float(), nullable=True),
    sa.Column('sp_win_return', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('ew_return', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('place_return', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('data_source', sa.Text(), nullable=True),
    sa.Column('file_source', sa.Text(), server_default=sa.text("'Racing API'"), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('racing_bet_data_id', name=op.f('pk_ra_odds_historical')),
    sa.UniqueConstraint('race_id', 'horse_id', name=op.f('uq_ra_odds_historical_race_id_horse_id'))
    )
    op.create_index('ix_ra_odds_historical_country', 'ra_odds_historical', ['country'], unique=False)
    op.create_index('ix_ra_odds_historical_date_of_race_track', 'ra_odds_historical', ['date_of_race', 'track'], unique=False)
    same = ("race_id", "horse_id", "country", "track", "course_id", "race_name", "going", "race_type", "distance",
            "distance_f", "race_class", "is_handicap", "runners_count", "horse_name", "official_rating", "age",
            "weight", "weight_lbs", "jockey", "jockey_id", "trainer", "trainer_id", "headgear",
            "finishing_position", "industry_sp", "sp_fractional", "betfair_sp", "pre_race_min", "pre_race_max",
            "last_price_before_off", "ew_return", "place_return", "created_at", "updated_at")
    _copy("ra_odds_historical", old, {**{c: c for c in same},
          "racing_bet_data_id": "id", "date_of_race": "race_date || ' 00:00:00.000000'",
          "race_time": _sqlite_time("race_time"), "match_timestamp": "off_dt", "stall_number": "stall",
          "winning_distance": "beaten_distance", "sp_favorite_position": "sp_fav_rank",
          "sp_win_return": "win_return", "ip_min": "pre_race_min", "ip_max": "pre_race_max",
          "data_source": "'darkhorses-workers'", "file_source": "'Racing API'"})


# -- downgrade (PostgreSQL) -------------------------------------------------------------------------

def downgrade() -> None:
    if _sqlite():
        raise NotImplementedError("the embedded SQLite database cannot be downgraded: delete it and migrate again")
    if is_adopted(op.get_bind()):
        undo_adoption(op.get_bind())  # the old service's tables, as they were; 0002 and 0001 then do nothing
        return
    op.drop_table('ra_adoption')
    op.execute(DROP_LIVE_VIEW)
    op.drop_column("ra_collection_ledger", "legacy_rows")
    _runs_downgrade()
    _pg_historical_downgrade()
    _pg_live_downgrade()
    for table in ("ra_bookmakers", "ra_odds_live", "ra_odds_history"):
        op.execute(f"UPDATE {table} SET bookmaker_id = 'betfair_ex' WHERE bookmaker_id = 'betfair'")
    op.execute("ALTER TABLE ra_bookmakers DROP COLUMN active, DROP COLUMN created_at, "
               "ALTER COLUMN bookmaker_id TYPE varchar(32), ALTER COLUMN bookmaker_name TYPE varchar(64), "
               "ALTER COLUMN bookmaker_type TYPE varchar(16)")
    op.execute("ALTER TABLE ra_bookmakers RENAME COLUMN bookmaker_name TO name")
    op.execute("ALTER TABLE ra_bookmakers RENAME COLUMN bookmaker_type TO type")
    op.execute("ALTER TABLE ra_bookmakers ADD CONSTRAINT uq_ra_bookmakers_name UNIQUE (name)")


def _pg_live_downgrade() -> None:
    widths = {"race_id": 32, "horse_id": 32, "bookmaker_id": 32, "course": 64, "race_name": 255, "race_class": 32,
              "race_type": 32, "distance": 32, "going": 64, "horse_name": 128, "jockey": 128, "trainer": 128,
              "weight": 8, "form": 32, "bookmaker_name": 64, "bookmaker_type": 16, "odds_fractional": 16,
              "market_status": 16}
    clauses = [f"ALTER COLUMN {c} TYPE varchar({n})" for c, n in widths.items()]
    clauses += [f"ALTER COLUMN {c} TYPE varchar(8) USING {c}::text" for c in ("horse_number", "draw", "age")]
    clauses += ["ALTER COLUMN race_time TYPE varchar(5) USING to_char(race_time, 'HH24:MI')",
                "ALTER COLUMN odds_decimal TYPE double precision USING odds_decimal::double precision",
                "ALTER COLUMN course DROP NOT NULL", "ALTER COLUMN horse_name DROP NOT NULL",
                "ALTER COLUMN bookmaker_name DROP NOT NULL", "ALTER COLUMN odds_timestamp DROP NOT NULL",
                "DROP COLUMN market_type"]
    for column in ("bookmaker_type", "market_status", "in_play", "fetched_at", "updated_at"):
        clauses.append(f"ALTER COLUMN {column} DROP DEFAULT")
    for column in ("market_status", "in_play", "fetched_at", "created_at", "updated_at"):
        clauses.append(f"ALTER COLUMN {column} SET NOT NULL")
    op.execute("ALTER TABLE ra_odds_live_prices " + ", ".join(clauses))
    op.execute("ALTER TABLE ra_odds_live_prices RENAME COLUMN weight TO weight_lbs")
    op.execute("ALTER TABLE ra_odds_live_prices RENAME CONSTRAINT pk_ra_odds_live_prices TO pk_ra_odds_live")
    op.execute("ALTER TABLE ra_odds_live_prices RENAME TO ra_odds_live")


def _pg_historical_downgrade() -> None:
    op.drop_index("ix_ra_odds_historical_date_of_race_track", table_name="ra_odds_historical")
    # Rows without ids (adopted from the old service) have no place in the older schema.
    op.execute("DELETE FROM ra_odds_historical WHERE race_id IS NULL OR horse_id IS NULL OR date_of_race IS NULL")
    widths = {"track": 64, "race_name": 255, "going": 64, "race_type": 32, "distance": 32, "horse_name": 128,
              "weight": 16, "jockey": 128, "trainer": 128, "headgear": 16, "finishing_position": 16,
              "winning_distance": 16}
    clauses = [f"ALTER COLUMN {c} TYPE varchar({n})" for c, n in widths.items()]
    clauses += [f"ALTER COLUMN {c} TYPE double precision USING {c}::double precision"
                for c in ("industry_sp", "pre_race_min", "pre_race_max", "sp_win_return", "ew_return", "place_return")]
    clauses += ["ALTER COLUMN date_of_race TYPE date USING (date_of_race AT TIME ZONE 'UTC')::date",
                "ALTER COLUMN date_of_race SET NOT NULL",
                "ALTER COLUMN race_time TYPE varchar(5) USING to_char(race_time, 'HH24:MI')",
                "ALTER COLUMN country TYPE varchar(8)",
                "ALTER COLUMN race_id SET NOT NULL", "ALTER COLUMN horse_id SET NOT NULL",
                "ALTER COLUMN official_rating DROP DEFAULT", "ALTER COLUMN created_at DROP DEFAULT",
                "ALTER COLUMN updated_at DROP DEFAULT",
                "DROP COLUMN ip_min", "DROP COLUMN ip_max", "DROP COLUMN forecasted_odds", "DROP COLUMN data_source",
                "DROP COLUMN file_source"]
    op.execute("ALTER TABLE ra_odds_historical " + ", ".join(clauses))
    renames = {"racing_bet_data_id": "id", "date_of_race": "race_date", "match_timestamp": "off_dt",
               "stall_number": "stall", "sp_favorite_position": "sp_fav_rank", "winning_distance": "beaten_distance",
               "sp_win_return": "win_return"}
    for new, old in renames.items():
        op.execute(f"ALTER TABLE ra_odds_historical RENAME COLUMN {new} TO {old}")
    op.create_index("ix_ra_odds_historical_race_date_track", "ra_odds_historical", ["race_date", "track"])
