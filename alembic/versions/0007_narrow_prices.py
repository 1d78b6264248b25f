"""Narrow price history: ra_odds_history becomes ra_odds_moves (compact keys) and a view.

A move was ~270 bytes with its indexes (three ids of text, a bigint id, three indexes); now
~60: the runner as a 4-byte key (ra_live_runners), the bookmaker as a 2-byte key
(ra_bookmaker_keys), the price as an integer of ten-thousandths, no id, and one index (the
natural key, which is also how every reader finds a runner's moves) plus a BRIN index on
observed_at (a few pages for a year) for the day's counts. The view `ra_odds_history` has the
old table's columns and values (odds_decimal to 4 places), so its readers are unchanged.

PostgreSQL: converted in place, a month's partition at a time (each old partition dropped as
soon as it is copied), the key built once at the end; one transaction, so the old rows stay
on disk until it commits: free disk for the new table and its key (~1/4 of the old one) is
needed meanwhile. SQLite: the plain table converted the same way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 16:00:00
"""
import re
from datetime import date

import sqlalchemy as sa

from alembic import op
from darkhorses.models.views import (
    CREATE_HISTORY_VIEW,
    DROP_HISTORY_INSERT_TRIGGER,
    DROP_HISTORY_VIEW,
    HISTORY_INSERT_TRIGGER,
    PRICE_SCALE,
    SOURCES,
)

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SmallKey = sa.SmallInteger().with_variant(sa.Integer(), "sqlite")
MOVE_COLUMNS = "changed_at, observed_at, runner_key, odds_x10000, bookmaker_key, source_code, odds_fractional"
OLD_COLUMNS = "race_id, horse_id, bookmaker_id, odds_decimal, odds_fractional, changed_at, observed_at, source"
CODE_OF_SOURCE = "CASE h.source " + " ".join(f"WHEN '{s}' THEN {c}" for c, s in enumerate(SOURCES)) + " ELSE 0 END"
SOURCE_OF_CODE = "CASE m.source_code " + " ".join(f"WHEN {c} THEN '{s}'" for c, s in enumerate(SOURCES)) + " END"
OLD_UNIQUE = "uq_ra_odds_history_race_id_horse_id_bookmaker_id_changed_at"
MONTH = re.compile(r"_y(\d{4})m(\d\d)$")


def _month(day: date, shift: int = 0) -> date:
    months = day.year * 12 + day.month - 1 + shift
    return date(months // 12, months % 12 + 1, 1)


def _partitions(parent: str) -> list[str]:
    return list(op.get_bind().execute(sa.text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:parent AS regclass) ORDER BY c.relname"), {"parent": parent}).scalars())


def _months_of(table: str) -> set[date]:
    return set(op.get_bind().execute(sa.text(
        f"SELECT DISTINCT CAST(date_trunc('month', changed_at AT TIME ZONE 'UTC') AS date) FROM {table}")).scalars())


def _make_partitions(parent: str, months: set[date]) -> None:
    this_month = _month(date.today())
    months = months | {_month(this_month, shift) for shift in range(4)}
    op.execute(f"CREATE TABLE {parent}_default PARTITION OF {parent} DEFAULT")
    for month in sorted(months):
        op.execute(f"CREATE TABLE {parent}_y{month:%Y}m{month:%m} PARTITION OF {parent} FOR VALUES FROM "
                   f"('{month.isoformat()} 00:00:00+00') TO ('{_month(month, 1).isoformat()} 00:00:00+00')")


def _copy_moves(source: str) -> None:
    """The rows of `source` (a partition, or the whole old table) into ra_odds_moves."""
    op.execute(f"INSERT INTO ra_live_runners (race_id, horse_id) SELECT DISTINCT h.race_id, h.horse_id "
               f"FROM {source} h WHERE NOT EXISTS (SELECT 1 FROM ra_live_runners u "
               f"WHERE u.race_id = h.race_id AND u.horse_id = h.horse_id) ORDER BY h.race_id, h.horse_id")
    op.execute(f"INSERT INTO ra_odds_moves ({MOVE_COLUMNS}) SELECT h.changed_at, h.observed_at, u.runner_key, "
               f"CAST(round(h.odds_decimal * {PRICE_SCALE}) AS INTEGER), b.bookmaker_key, {CODE_OF_SOURCE}, "
               "h.odds_fractional "
               f"FROM {source} h JOIN ra_live_runners u ON u.race_id = h.race_id AND u.horse_id = h.horse_id "
               "JOIN ra_bookmaker_keys b ON b.bookmaker_id = h.bookmaker_id")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table('ra_live_runners',
    sa.Column('runner_key', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('runner_key', name=op.f('pk_ra_live_runners')),
    sa.UniqueConstraint('race_id', 'horse_id', name=op.f('uq_ra_live_runners_race_id_horse_id'))
    )
    op.create_table('ra_bookmaker_keys',
    sa.Column('bookmaker_key', SmallKey, autoincrement=True, nullable=False),
    sa.Column('bookmaker_id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('bookmaker_key', name=op.f('pk_ra_bookmaker_keys')),
    sa.UniqueConstraint('bookmaker_id', name=op.f('uq_ra_bookmaker_keys_bookmaker_id'))
    )
    op.execute("ALTER TABLE ra_odds_history RENAME TO ra_odds_history_old")
    op.execute("INSERT INTO ra_bookmaker_keys (bookmaker_id) SELECT bookmaker_id FROM ra_bookmakers "
               "UNION SELECT DISTINCT bookmaker_id FROM ra_odds_history_old ORDER BY 1")
    if postgresql:
        # The key comes after the rows (one sorted build per partition, not 37M insertions).
        op.execute("""CREATE TABLE ra_odds_moves (
            changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
            observed_at TIMESTAMP WITH TIME ZONE NOT NULL,
            runner_key INTEGER NOT NULL,
            odds_x10000 INTEGER NOT NULL,
            bookmaker_key SMALLINT NOT NULL,
            source_code SMALLINT NOT NULL DEFAULT 0,
            odds_fractional VARCHAR(16)
        ) PARTITION BY RANGE (changed_at)""")
        old = _partitions("ra_odds_history_old")
        months = {date(int(m.group(1)), int(m.group(2)), 1) for m in map(MONTH.search, old) if m}
        months |= _months_of("ONLY ra_odds_history_old") if not old else set()
        months |= {m for name in old if name.endswith("_default") for m in _months_of(name)}
        _make_partitions("ra_odds_moves", months)
        for name in old or ["ra_odds_history_old"]:
            _copy_moves(name)
            if old:
                op.execute(f"DROP TABLE {name}")
        op.execute("ALTER TABLE ra_odds_moves ADD CONSTRAINT pk_ra_odds_moves "
                   "PRIMARY KEY (runner_key, bookmaker_key, changed_at)")
        op.execute("CREATE INDEX ix_ra_odds_moves_observed_at_day_counts ON ra_odds_moves "
                   "USING brin (observed_at)")
        op.execute("DROP TABLE ra_odds_history_old CASCADE")
    else:
        op.create_table('ra_odds_moves',
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('runner_key', sa.Integer(), nullable=False),
        sa.Column('odds_x10000', sa.Integer(), nullable=False),
        sa.Column('bookmaker_key', SmallKey, nullable=False),
        sa.Column('source_code', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('odds_fractional', sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint('runner_key', 'bookmaker_key', 'changed_at', name='pk_ra_odds_moves')
        )
        op.create_index('ix_ra_odds_moves_observed_at_day_counts', 'ra_odds_moves', ['observed_at'])
        _copy_moves("ra_odds_history_old")
        op.drop_table("ra_odds_history_old")
    op.execute(CREATE_HISTORY_VIEW)
    for statement in HISTORY_INSERT_TRIGGER[op.get_bind().dialect.name]:
        op.execute(statement)


def _copy_back(source: str) -> None:
    op.execute(f"INSERT INTO ra_odds_history ({OLD_COLUMNS}) SELECT u.race_id, u.horse_id, b.bookmaker_id, "
               f"CAST(m.odds_x10000 AS DOUBLE PRECISION) / {PRICE_SCALE}, m.odds_fractional, m.changed_at, "
               f"m.observed_at, {SOURCE_OF_CODE} FROM {source} m JOIN ra_live_runners u ON u.runner_key = m.runner_key "
               "JOIN ra_bookmaker_keys b ON b.bookmaker_key = m.bookmaker_key ORDER BY m.observed_at")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in DROP_HISTORY_INSERT_TRIGGER[dialect]:
        op.execute(statement)
    op.execute(DROP_HISTORY_VIEW)
    columns = [
        sa.Column('race_id', sa.String(length=32), nullable=False),
        sa.Column('horse_id', sa.String(length=32), nullable=False),
        sa.Column('bookmaker_id', sa.String(length=32), nullable=False),
        sa.Column('odds_decimal', sa.Float(), nullable=False),
        sa.Column('odds_fractional', sa.String(length=16), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source', sa.String(length=16), server_default=sa.text("'observed'"), nullable=False)]
    if dialect == "postgresql":
        op.execute("CREATE SEQUENCE ra_odds_history_id_seq")
        op.execute(f"""CREATE TABLE ra_odds_history (
            id BIGINT NOT NULL DEFAULT nextval('ra_odds_history_id_seq'),
            race_id VARCHAR(32) NOT NULL,
            horse_id VARCHAR(32) NOT NULL,
            bookmaker_id VARCHAR(32) NOT NULL,
            odds_decimal DOUBLE PRECISION NOT NULL,
            odds_fractional VARCHAR(16),
            changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
            observed_at TIMESTAMP WITH TIME ZONE NOT NULL,
            source VARCHAR(16) DEFAULT 'observed' NOT NULL,
            CONSTRAINT pk_ra_odds_history PRIMARY KEY (id, changed_at),
            CONSTRAINT {OLD_UNIQUE} UNIQUE (race_id, horse_id, bookmaker_id, changed_at)
        ) PARTITION BY RANGE (changed_at)""")
        op.execute("CREATE INDEX ix_ra_odds_history_observed_at ON ra_odds_history (observed_at)")
        moves = _partitions("ra_odds_moves")
        _make_partitions("ra_odds_history", {date(int(m.group(1)), int(m.group(2)), 1)
                                             for m in map(MONTH.search, moves) if m})
        for name in moves:
            _copy_back(name)
            op.execute(f"DROP TABLE {name}")
        op.execute("ALTER SEQUENCE ra_odds_history_id_seq OWNED BY ra_odds_history.id")
        op.execute("DROP TABLE ra_odds_moves")
    else:
        op.create_table('ra_odds_history',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        *columns,
        sa.PrimaryKeyConstraint('id', name='pk_ra_odds_history'),
        sa.UniqueConstraint('race_id', 'horse_id', 'bookmaker_id', 'changed_at', name=OLD_UNIQUE)
        )
        op.create_index('ix_ra_odds_history_observed_at', 'ra_odds_history', ['observed_at'], unique=False)
        _copy_back("ra_odds_moves")
        op.drop_table("ra_odds_moves")
    op.drop_table('ra_bookmaker_keys')
    op.drop_table('ra_live_runners')
