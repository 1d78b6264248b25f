"""Narrow live prices: ra_odds_live_prices becomes four tables and the view `ra_odds_live` over them.

A wide price row repeated its race's and runner's text (course, race name, jockey, form, ...)
and was kept half empty (fillfactor 50): 888 bytes a price at a year. Now (138 bytes, measured
on a year by bench/narrow_live.py before this migration):
  - ra_live_race_facts: a race's columns once (its newest row's);
  - ra_live_runner_facts: a runner's columns once, on ra_live_runners' key (its newest row's);
  - ra_live_book_facts: each (bookmaker name, type) pair once, numbered (the old service's rows
    may name one bookmaker id two ways);
  - ra_live_prices: one narrow row per (runner key, bookmaker key): the contract's id, odds as
    `odds_x10000` (as ra_odds_moves), the status as a 2-byte code, stamps, flags, short text;
    its key the only index, pages packed full (only today's rows are ever updated).
The view `ra_odds_live` has every column, type and value it had; an INSTEAD OF INSERT trigger
keeps row-at-a-time inserts into it working (tests, hand repairs).

PostgreSQL: converted in place, the prices in batches of ids, the key built once at the end,
the wide table dropped; one transaction, so free disk for the narrow tables (~1/6 of the wide
one) is needed until it commits. A price whose race or runner facts differ from its race's
(runner's) newest row takes the newest: the count is logged (0 on a collected year). For an
adopted database the wide table's exact definition (the old service's types, defaults, indexes)
is kept in ra_adoption, so a downgrade gives it back as it was. SQLite: the same, in one go.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 19:00:00
"""
import json
import logging

import sqlalchemy as sa

from alembic import op
from darkhorses.models.views import (
    DROP_LIVE_INSERT_TRIGGER,
    DROP_LIVE_VIEW,
    LIVE_INSERT_TRIGGER,
    MARKET_STATUSES,
    RACE_FACTS,
    RUNNER_FACTS,
    create_live_view_sql,
    create_narrow_live_view_sql,
    narrow_live_select,
    wide_facts_sql,
    wide_prices_sql,
)
from darkhorses.models.wide_live import WIDE_LIVE_PRICES

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BATCH = 500_000  # wide rows per INSERT … SELECT (ids), as measured
SmallKey = sa.SmallInteger().with_variant(sa.Integer(), "sqlite")
WIDE = "ra_odds_live_prices"
WIDE_COLUMNS = tuple(c.name for c in WIDE_LIVE_PRICES.columns)
# Beside alembic's own lines, in the service's log format (LOG_FORMAT=json makes every line JSON).
log = logging.getLogger("alembic.runtime.migration")


def _dialect() -> str:
    return op.get_bind().dialect.name


def _scalar(sql: str, **params):
    return op.get_bind().execute(sa.text(sql), params).scalar()


def _create_tables(dialect: str) -> None:
    op.create_table('ra_live_race_facts',
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('off_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('race_time', sa.Time(), nullable=True),
    sa.Column('runners', sa.Integer(), nullable=True),
    sa.Column('course', sa.Text(), nullable=False),
    sa.Column('course_id', sa.String(length=32), nullable=True),
    sa.Column('country', sa.String(length=8), nullable=True),
    sa.Column('race_name', sa.Text(), nullable=True),
    sa.Column('race_class', sa.Text(), nullable=True),
    sa.Column('race_type', sa.Text(), nullable=True),
    sa.Column('distance', sa.Text(), nullable=True),
    sa.Column('going', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('race_id', name=op.f('pk_ra_live_race_facts'))
    )
    op.create_table('ra_live_runner_facts',
    sa.Column('runner_key', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('horse_number', sa.Integer(), nullable=True),
    sa.Column('draw', sa.Integer(), nullable=True),
    sa.Column('age', sa.Integer(), nullable=True),
    sa.Column('horse_name', sa.Text(), nullable=False),
    sa.Column('jockey', sa.Text(), nullable=True),
    sa.Column('trainer', sa.Text(), nullable=True),
    sa.Column('weight', sa.Text(), nullable=True),
    sa.Column('form', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('runner_key', name=op.f('pk_ra_live_runner_facts'))
    )
    op.create_table('ra_live_book_facts',
    sa.Column('book_facts_key', SmallKey, autoincrement=True, nullable=False),
    sa.Column('bookmaker_name', sa.Text(), nullable=False),
    sa.Column('bookmaker_type', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('book_facts_key', name=op.f('pk_ra_live_book_facts')),
    sa.UniqueConstraint('bookmaker_name', 'bookmaker_type', name=op.f('uq_ra_live_book_facts_bookmaker_name_bookmaker_type'),
                        postgresql_nulls_not_distinct=True)
    )
    columns = [
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('odds_timestamp', sa.DateTime(timezone=True), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('runner_key', sa.Integer(), nullable=False),
        sa.Column('odds_x10000', sa.Integer(), nullable=True),
        sa.Column('bookmaker_key', SmallKey, nullable=False),
        sa.Column('book_facts_key', SmallKey, nullable=False),
        sa.Column('market_status_code', sa.SmallInteger(), server_default=sa.text('0'), nullable=True),
        sa.Column('in_play', sa.Boolean(), server_default=sa.text('false'), nullable=True),
        sa.Column('odds_fractional', sa.String(length=16), nullable=True),
        sa.Column('ew_places', sa.String(length=8), nullable=True),
        sa.Column('ew_denom', sa.String(length=8), nullable=True),
        sa.Column('market_type', sa.Text(), server_default=sa.text("'WIN'"), nullable=True)]
    if dialect == "postgresql":  # the key after the rows: one sorted build, not millions of insertions
        op.create_table('ra_live_prices', *columns, postgresql_with={"fillfactor": 100})
    else:
        op.create_table('ra_live_prices', *columns,
                        sa.PrimaryKeyConstraint('runner_key', 'bookmaker_key', name='pk_ra_live_prices'))
    op.create_index('ix_ra_live_race_facts_race_date', 'ra_live_race_facts', ['race_date'])
    op.create_index('ix_ra_live_race_facts_off_dt', 'ra_live_race_facts', ['off_dt'])


def _facts(dialect: str) -> None:
    for statement in wide_facts_sql(dialect, WIDE):
        op.execute(statement)


def _prices(dialect: str, where: str = "") -> None:
    op.execute(wide_prices_sql(dialect, WIDE, where))


def _report_what_changes() -> None:
    """Prices whose race or runner facts are not their newest row's (they take the newest), and
    statuses outside MARKET_STATUSES (kept as NULL): logged, as alembic logs its steps."""
    differing_races = _scalar(
        f"SELECT count(*) FROM {WIDE} w JOIN ra_live_race_facts f ON f.race_id = w.race_id WHERE "
        + " OR ".join(f"w.{c} IS DISTINCT FROM f.{c}" for c in RACE_FACTS))
    differing_runners = _scalar(
        f"SELECT count(*) FROM {WIDE} w JOIN ra_live_runners u ON u.race_id = w.race_id AND u.horse_id = w.horse_id "
        "JOIN ra_live_runner_facts h ON h.runner_key = u.runner_key WHERE "
        + " OR ".join(f"w.{c} IS DISTINCT FROM h.{c}" for c in RUNNER_FACTS))
    other_statuses = _scalar(f"SELECT count(*) FROM {WIDE} WHERE market_status IS NOT NULL AND market_status NOT IN ("
                             + ", ".join(f"'{s}'" for s in MARKET_STATUSES) + ")")
    log.info("0009: live prices whose race facts were not their race's newest row: %d; whose runner facts were "
             "not their runner's newest: %d (they now read the newest); statuses outside %s: %d (now NULL)",
             differing_races, differing_runners, ", ".join(MARKET_STATUSES), other_statuses)


def _is_adopted() -> bool:
    return bool(sa.inspect(op.get_bind()).has_table("ra_adoption")
                and _scalar("SELECT count(*) FROM ra_adoption"))


def _keep_wide_definition() -> None:
    """An adopted database's wide table is the old service's, with its own types, defaults and
    indexes: its exact definition goes into ra_adoption, for the downgrade to give it back."""
    bind = op.get_bind()
    columns = [list(r) for r in bind.execute(sa.text(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE a.attrelid = '{WIDE}'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"))]
    constraints = [list(r) for r in bind.execute(sa.text(
        f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{WIDE}'::regclass "
        "AND contype IN ('p', 'u') ORDER BY conname"))]
    indexes = list(bind.execute(sa.text(
        f"SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = '{WIDE}'::regclass AND indexrelid NOT IN "
        f"(SELECT conindid FROM pg_constraint WHERE conrelid = '{WIDE}'::regclass) ORDER BY indexrelid")).scalars())
    options = _scalar(f"SELECT reloptions FROM pg_class WHERE oid = '{WIDE}'::regclass") or []
    sequences = [name for name in (_scalar(f"SELECT pg_get_serial_sequence('{WIDE}', :c)", c=c[0]) for c in columns)
                 if name]
    added = json.loads(_scalar("SELECT added FROM ra_adoption"))
    added["wide_live"] = {"columns": columns, "constraints": constraints, "indexes": indexes, "options": options,
                          "sequences": sequences}
    bind.execute(sa.text("UPDATE ra_adoption SET added = :added"), {"added": json.dumps(added)})


def upgrade() -> None:
    dialect = _dialect()
    for statement in DROP_LIVE_INSERT_TRIGGER[dialect]:
        op.execute(statement)
    op.execute(DROP_LIVE_VIEW)
    _create_tables(dialect)
    _facts(dialect)
    _report_what_changes()
    if dialect == "postgresql":
        if _is_adopted():
            _keep_wide_definition()
        low, high = op.get_bind().execute(sa.text(f"SELECT min(id), max(id) FROM {WIDE}")).one()
        for start in range(low or 0, (high or 0) + 1, BATCH):
            _prices(dialect, f"WHERE w.id >= {start} AND w.id < {start + BATCH}")
        op.create_primary_key('pk_ra_live_prices', 'ra_live_prices', ['runner_key', 'bookmaker_key'])
        # New rows number on from the largest id converted.
        op.execute("SELECT setval(pg_get_serial_sequence('ra_live_prices', 'id'), "
                   "(SELECT COALESCE(max(id), 0) + 1 FROM ra_live_prices), false)")
        op.execute(f"DROP TABLE {WIDE}")
        for table in ("ra_live_race_facts", "ra_live_runner_facts", "ra_live_book_facts", "ra_live_prices"):
            op.execute(f"ANALYZE {table}")
    else:
        _prices(dialect)
        op.execute(f"DROP TABLE {WIDE}")
    op.execute(create_narrow_live_view_sql(dialect))
    for statement in LIVE_INSERT_TRIGGER[dialect]:
        op.execute(statement)


def _rebuild_wide_as_kept(kept: dict) -> None:
    """The adopted wide table exactly as it was (columns in order, defaults, keys, indexes)."""
    for sequence in kept["sequences"]:
        op.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
    columns = [f'"{name}" {kind}{" NOT NULL" if not_null else ""}{f" DEFAULT {default}" if default else ""}'
               for name, kind, not_null, default in kept["columns"]]
    constraints = [f'CONSTRAINT "{name}" {definition}' for name, definition in kept["constraints"]]
    options = f" WITH ({', '.join(kept['options'])})" if kept["options"] else ""
    op.execute(f"CREATE TABLE {WIDE} ({', '.join(columns + constraints)}){options}")
    for index in kept["indexes"]:
        op.execute(index)


def downgrade() -> None:
    dialect = _dialect()
    for statement in DROP_LIVE_INSERT_TRIGGER[dialect]:
        op.execute(statement)
    op.execute(DROP_LIVE_VIEW)
    added = json.loads(_scalar("SELECT added FROM ra_adoption")) if dialect == "postgresql" and _is_adopted() else {}
    kept = added.pop("wide_live", None)
    if kept:
        _rebuild_wide_as_kept(kept)
    else:
        WIDE_LIVE_PRICES.create(op.get_bind())
    wide = ", ".join(WIDE_COLUMNS)
    op.execute(f"INSERT INTO {WIDE} ({wide}) SELECT {wide} FROM ({narrow_live_select(dialect, 'p.fetched_at')}) n "
               "ORDER BY id")
    if dialect == "postgresql":
        # The wide table's id numbers on from the largest: its own sequence, or the adopted one's kept.
        sequences = [f"'{name}'" for name in kept["sequences"]] if kept else [f"pg_get_serial_sequence('{WIDE}', 'id')"]
        for sequence in sequences:
            op.execute(f"SELECT setval({sequence}, (SELECT COALESCE(max(id), 0) + 1 FROM {WIDE}), false)")
        for name in kept["sequences"] if kept else []:
            op.execute(f"ALTER SEQUENCE {name} OWNED BY {WIDE}.id")
        if kept:
            op.get_bind().execute(sa.text("UPDATE ra_adoption SET added = :added"), {"added": json.dumps(added)})
    for table in ("ra_live_prices", "ra_live_book_facts", "ra_live_runner_facts", "ra_live_race_facts"):
        op.drop_table(table)
    op.execute(create_live_view_sql())
