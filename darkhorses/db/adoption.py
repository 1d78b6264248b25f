"""Adopting a database the replaced service built, and refusing one that is nobody's we know.

`migrate` looks before it writes: an empty database or one of ours is upgraded as usual; the
old service's (its contract tables, no alembic_version) is adopted in one transaction: its
tables keep every row and column, ours are added beside them, the live table becomes the
physical table under the `ra_odds_live` view, the ledger learns which dates the old rows
cover, and revision 0008 is stamped: the schema as it was then (the wide live table), so the
migrations after it (0009: the live prices narrowed) convert the old rows as they convert
ours. What was added is recorded in `ra_adoption`, so a downgrade removes exactly that and
leaves the old tables as they were. Anything else is refused before a single statement
changes it.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import Column, inspect, text
from sqlalchemy.engine import Connection

from ..models import Base
from ..models.views import (
    CREATE_HISTORY_VIEW,
    DROP_HISTORY_INSERT_TRIGGER,
    DROP_HISTORY_VIEW,
    DROP_LIVE_VIEW,
    HISTORY_INSERT_TRIGGER,
    create_live_view_sql,
)
from ..models.wide_live import WIDE_LIVE_PRICES
from ..racing_api.bookmakers import BOOKMAKERS
from .revisions import known_revisions, stamp

# The revision whose schema adoption builds (Base.metadata but the tables of later migrations,
# the wide live table instead); `migrate` then upgrades from it as from any database of ours.
ADOPTED_AT = "0008"
LATER_TABLES = {"ra_live_race_facts", "ra_live_runner_facts", "ra_live_book_facts", "ra_live_prices"}  # 0009

# The columns that make a table the old service's (docs/switching.md); a few are enough.
LEGACY_SIGNATURE = {
    "ra_odds_live": {"race_id", "horse_id", "bookmaker_id", "bookmaker_name", "odds_decimal", "fetched_at"},
    "ra_odds_historical": {"racing_bet_data_id", "date_of_race", "track", "horse_name", "industry_sp"},
    "ra_bookmakers": {"bookmaker_id", "bookmaker_name", "bookmaker_type"},
}


class ForeignDatabase(Exception):
    """The database holds tables that are neither ours nor the replaced service's."""


def classify(connection: Connection) -> tuple[str, list[str]]:
    """("empty" | "ours" | "legacy" | "foreign", the tables found)."""
    inspector = inspect(connection)
    tables = sorted(set(inspector.get_table_names()) | set(inspector.get_view_names()))
    others = [t for t in tables if t not in ("alembic_version", "ra_adoption")]
    if "alembic_version" in tables:
        versions = [r[0] for r in connection.execute(text("SELECT version_num FROM alembic_version"))]
        if versions:
            return ("ours" if set(versions) <= known_revisions() else "foreign"), tables
    if not others:
        return "empty", tables
    if all(name in tables and signature <= {c["name"] for c in inspector.get_columns(name)}
           for name, signature in LEGACY_SIGNATURE.items()):
        return "legacy", tables
    return "foreign", tables


def is_adopted(connection: Connection) -> bool:
    if not inspect(connection).has_table("ra_adoption"):
        return False
    return connection.execute(text("SELECT count(*) FROM ra_adoption")).scalar_one() > 0


def adopt(connection: Connection) -> dict:
    """Bring the old service's database to our head revision; the caller owns the transaction."""
    if connection.dialect.name != "postgresql":
        raise ForeignDatabase("the old service's database is PostgreSQL; adoption needs PostgreSQL")
    counts = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar()
              for t in ("ra_odds_live", "ra_odds_historical", "ra_bookmakers")}
    connection.execute(text("ALTER TABLE ra_odds_live RENAME TO ra_odds_live_prices"))
    added = _add_missing_schema(connection)
    connection.execute(text(create_live_view_sql()))
    connection.execute(text(CREATE_HISTORY_VIEW))
    for statement in HISTORY_INSERT_TRIGGER["postgresql"]:
        connection.execute(text(statement))
    present = {r[0] for r in connection.execute(text("SELECT bookmaker_id FROM ra_bookmakers"))}
    added["bookmakers"] = [b.id for b in BOOKMAKERS if b.id not in present]
    for b in BOOKMAKERS:
        if b.id in added["bookmakers"]:
            connection.execute(text("INSERT INTO ra_bookmakers (bookmaker_id, bookmaker_name, bookmaker_type) "
                                    "VALUES (:i, :n, :t)"), {"i": b.id, "n": b.name, "t": b.type})
    # Midnight UTC of the UK date, as the old service stored it: the UTC date is the UK date.
    connection.execute(text(
        "INSERT INTO ra_collection_ledger (race_date, status, races, runners, attempts, legacy_rows, updated_at) "
        "SELECT (date_of_race AT TIME ZONE 'UTC')::date, 'legacy', count(DISTINCT (track, race_time)), count(*), "
        "0, count(*), now() FROM ra_odds_historical WHERE date_of_race IS NOT NULL GROUP BY 1 "
        "ON CONFLICT (race_date) DO NOTHING"))
    connection.execute(text("INSERT INTO ra_adoption (id, adopted_at, added) VALUES (1, :at, :added)"),
                       {"at": datetime.now(timezone.utc), "added": json.dumps(added)})
    stamp(connection, ADOPTED_AT)
    return {"adopted": True, "rows": counts, "added_tables": added["tables"]}


def _add_missing_schema(connection: Connection) -> dict:
    """Our tables, columns, indexes and unique keys the old tables lack; returns what was added."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    op = Operations(MigrationContext.configure(connection))
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    added: dict = {"tables": [], "columns": {}, "indexes": [], "uniques": []}
    tables = [t for t in Base.metadata.sorted_tables if t.name not in LATER_TABLES] + [WIDE_LIVE_PRICES]
    for table in tables:
        if table.name not in existing:
            table.create(connection)
            added["tables"].append(table.name)
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                # Nullable and without a default: PostgreSQL adds it without touching a row.
                op.add_column(table.name, Column(column.name, column.type, nullable=True))
                added["columns"].setdefault(table.name, []).append(column.name)
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(connection)
                added["indexes"].append(index.name)
        unique_sets = {tuple(sorted(u["column_names"])) for u in inspector.get_unique_constraints(table.name)}
        for index_info in inspector.get_indexes(table.name):
            # An expression index has None for its expressions: no plain columns to match.
            plain = [c for c in index_info["column_names"] if c is not None]
            if index_info["unique"] and len(plain) == len(index_info["column_names"]):
                unique_sets.add(tuple(sorted(plain)))
        for constraint in table.constraints:
            names = tuple(sorted(c.name for c in getattr(constraint, "columns", ())))
            if type(constraint).__name__ == "UniqueConstraint" and names not in unique_sets:
                # Named by the naming convention once on a table: a str (the types allow a sentinel).
                name = constraint.name if isinstance(constraint.name, str) else None
                op.create_unique_constraint(name, table.name, list(names))
                added["uniques"].append([table.name, constraint.name])
    return added


def undo_adoption(connection: Connection) -> None:
    """Remove what adoption added; the old tables are left as they were (with any rows added
    since, under the old columns). `ra_adoption` stays until the last revision is gone."""
    added = json.loads(connection.execute(text("SELECT added FROM ra_adoption")).scalar_one())
    connection.execute(text(DROP_LIVE_VIEW))
    for statement in DROP_HISTORY_INSERT_TRIGGER["postgresql"]:
        connection.execute(text(statement))
    if "ra_odds_history" in inspect(connection).get_view_names():
        connection.execute(text(DROP_HISTORY_VIEW))
    elif "ra_odds_moves" in added["tables"]:
        # Adopted as ra_odds_moves and its view, made a table again by downgrading 0007: ours too.
        connection.execute(text("DROP TABLE IF EXISTS ra_odds_history CASCADE"))
    for table in reversed(added["tables"]):
        if table != "ra_adoption":
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    for table, name in added["uniques"]:
        connection.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"))
    for name in added["indexes"]:
        connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
    for table, columns in added["columns"].items():
        for column in columns:
            connection.execute(text(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}"))
    if added["bookmakers"]:
        connection.execute(text("DELETE FROM ra_bookmakers WHERE bookmaker_id = ANY(:ids)"),
                           {"ids": added["bookmakers"]})
    connection.execute(text("ALTER TABLE ra_odds_live_prices RENAME TO ra_odds_live"))
