"""The one bulk upsert helper.

Every write of collected data goes through `upsert`, keyed on a natural key, so re-running
any task rewrites the same rows instead of adding new ones.
"""
from __future__ import annotations

import csv
import io
import itertools
import logging
import operator
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, text
from sqlalchemy.orm import Session

from .engine import driver_cursor, rowcount

log = logging.getLogger(__name__)

# Below this many rows a plain INSERT ... ON CONFLICT is as quick as COPY and a merge.
COPY_THRESHOLD = 200


def upsert(session: Session, table: Table, rows: Sequence[dict] | Sequence[tuple], key: Sequence[str],
           update: Iterable[str] = (), *, known: bool = False, expect_new: bool = False,
           columns: Sequence[str] | None = None, same: dict | None = None) -> int:
    """Insert `rows`; on a conflict on `key` overwrite the `update` columns, or keep the
    existing row when `update` is empty. All rows must have the same keys.

    On PostgreSQL a large batch is COPYed into a temporary table and merged with one
    INSERT ... SELECT ... ON CONFLICT, two to four times the cost of a bare COPY instead
    of six to ten for paged INSERT ... VALUES. Returns the number of rows written.

    `known`: the caller has just read every row's key from the table, so the rows only
    update: one UPDATE ... FROM the COPYed batch, which skips the speculative insert of
    ON CONFLICT and may carry only the key and the `update` columns.
    `expect_new`: conflicts are rare (append-only tables), so a large batch is COPYed
    straight into the table inside a savepoint, and merged as usual only on a conflict.

    Rows repeating a key (the API paging while its data shifts, a runner listed twice) are
    collapsed first, the last one kept: one statement cannot write a row twice. Callers
    that count rows collapse with `unique_by_key` themselves; here it is logged.

    `columns`: the rows are tuples in this column order (a large batch of them costs a
    fraction of the memory of dicts, and goes to COPY as it is).
    `same`: with `known`, values that are the same for every row, set by the UPDATE itself
    instead of travelling with each row.
    """
    if not rows:
        return 0
    table = getattr(table, "__table__", table)
    rows, collapsed = unique_by_key(rows, key, columns)
    if collapsed:
        log.warning("%s: %d rows repeated a key already in the batch; the last of each kept",
                    table.name, collapsed)
    dialect = session.get_bind().dialect.name
    if columns is not None and (dialect != "postgresql" or len(rows) < COPY_THRESHOLD):
        rows = [dict(zip(columns, row, strict=True)) for row in rows]  # the statement paths bind by name
    columns = list(columns if columns is not None else rows[0].keys())
    update = [c for c in update if c not in key]
    if known:
        return _update_known(session, table, rows, columns, key, update, dialect, same or {})
    if dialect == "postgresql" and len(rows) >= COPY_THRESHOLD:
        if expect_new:
            written = _copy_straight(session, table, rows, columns)
            if written is not None:
                return written
        return _copy_merge(session, table, rows, columns, key, update)
    from sqlalchemy.dialects import postgresql, sqlite
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(key), set_={c: statement.excluded[c] for c in update})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    # executemany: SQLAlchemy batches the rows into multi-row statements ("insertmanyvalues")
    # from one cached compilation, instead of compiling a statement per batch size.
    written = rowcount(session.execute(statement, list(rows)))
    return written if written >= 0 else len(rows)


def unique_by_key(rows: Sequence, key: Sequence[str], columns: Sequence[str] | None = None) -> tuple[list, int]:
    """(rows with one per key, the last one winning, in first-seen order; how many were dropped).
    Rows are dicts, or tuples in the order of `columns`."""
    getter = operator.itemgetter(*(key if columns is None else [list(columns).index(c) for c in key]))
    latest = {getter(row): row for row in rows}
    if len(latest) == len(rows):
        return list(rows), 0
    return list(latest.values()), len(rows) - len(latest)


_temp_names = itertools.count()


def _copy_into(session: Session, target: str, rows, columns) -> None:
    buffer = io.StringIO()
    # csv writes None as an unquoted empty field, which COPY reads as NULL; everything else
    # through str(), which PostgreSQL parses for every type used here (dates, timestamps with
    # offsets, floats, True/False). Empty strings would also become NULL: callers store
    # missing text as None anyway (prices.text).
    csv.writer(buffer, lineterminator="\n").writerows(_csv_rows(rows, columns))
    buffer.seek(0)
    column_list = ", ".join(f'"{c}"' for c in columns)
    driver_cursor(session).copy_expert(f'COPY "{target}" ({column_list}) FROM STDIN WITH (FORMAT csv)', buffer)


def _temp_copy(session: Session, table, rows, columns) -> str:
    temp = f"tmp_{table.name}_{next(_temp_names)}"
    column_list = ", ".join(f'"{c}"' for c in columns)
    session.execute(text(
        f'CREATE TEMP TABLE "{temp}" ON COMMIT DROP AS SELECT {column_list} FROM "{table.name}" WITH NO DATA'))
    _copy_into(session, temp, rows, columns)
    return temp


def _copy_straight(session: Session, table, rows, columns) -> int | None:
    """COPY into the table itself; None (and nothing written) when a key already exists."""
    from psycopg2.errors import UniqueViolation
    savepoint = session.begin_nested()
    try:
        _copy_into(session, table.name, rows, columns)
    except UniqueViolation:
        savepoint.rollback()
        return None
    savepoint.commit()
    return len(rows)


def _update_known(session: Session, table, rows, columns, key, update, dialect, same) -> int:
    update = [c for c in update if c in columns and c not in same]
    if not update and not same:
        return 0
    if dialect != "postgresql":
        from sqlalchemy import update as sql_update
        by_key = sql_update(table).where(*(table.c[c] == bindparam(f"k_{c}") for c in key)) \
            .values({**{c: bindparam(f"v_{c}") for c in update}, **same})
        params = [{**{f"k_{c}": row[c] for c in key}, **{f"v_{c}": row[c] for c in update}} for row in rows]
        return rowcount(session.execute(by_key, params))
    temp = _temp_copy(session, table, rows, columns)
    assignments = ", ".join([f'"{c}" = t."{c}"' for c in update] + [f'"{c}" = :same_{c}' for c in same])
    match = " AND ".join(f'"{table.name}"."{c}" = t."{c}"' for c in key)
    statement = text(f'UPDATE "{table.name}" SET {assignments} FROM "{temp}" AS t WHERE {match}')
    if same:
        statement = statement.bindparams(*(bindparam(f"same_{c}", v, type_=table.c[c].type) for c, v in same.items()))
    result = session.execute(statement)
    session.execute(text(f'DROP TABLE "{temp}"'))
    return rowcount(result)


def _copy_merge(session: Session, table, rows, columns, key, update) -> int:
    temp = _temp_copy(session, table, rows, columns)
    column_list = ", ".join(f'"{c}"' for c in columns)
    conflict = ", ".join(f'"{c}"' for c in key)
    action = ("DO UPDATE SET " + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update)) if update else "DO NOTHING"
    result = session.execute(text(
        f'INSERT INTO "{table.name}" ({column_list}) SELECT {column_list} FROM "{temp}" '
        f"ON CONFLICT ({conflict}) {action}"))
    session.execute(text(f'DROP TABLE "{temp}"'))
    return rowcount(result)


def _csv_rows(rows, columns):
    """Row tuples for COPY; dates and times formatted once per distinct value, since a batch
    repeats the same few (the cycle's `now`, each race's off time). Column by column, so the
    per-row work stays in C (zip, map, dict lookups)."""
    if isinstance(rows[0], dict):
        getter = operator.itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
        rows = list(map(getter, rows))
    temporal = [i for i, value in enumerate(rows[0]) if isinstance(value, (date, datetime))]
    if not temporal:
        return rows
    table: list[Iterable[Any]] = list(zip(*rows, strict=True))
    for i in temporal:
        formatted = {value: value.isoformat() for value in set(table[i]) if value is not None}
        formatted[None] = None
        table[i] = map(formatted.__getitem__, table[i])
    return zip(*table, strict=True)
