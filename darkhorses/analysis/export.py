"""The data out: one file per day and kind (Parquet or CSV), for pandas, polars, DuckDB and
spreadsheets. One SQL query per kind, against the public names (the `ra_odds_live` view,
ra_odds_history, ra_market_lines, ra_odds_historical), with its columns typed here; the
columns are documented in docs/analysts.md#exports.

Streamed: the query runs on a server-side cursor and is written in batches, so memory stays
flat whatever the range (bench/export.py measures it). Atomic: each file is written beside its
final name and renamed over it, so a reader never sees half a file and a failed run leaves the
old file (or none). Deterministic: rows in key order and no time stamps in the file, so
re-running a day writes the same bytes.
"""
from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from ..models.base import UTCDateTime

log = logging.getLogger(__name__)

FIRST_DATE = date(2015, 1, 1)
BATCH_ROWS = 20_000
FORMATS = ("parquet", "csv")

_TS = pa.timestamp("us", tz="UTC")


class Kind(NamedTuple):
    name: str
    sql: str  # one day's rows: binds :low and :high (the day as UTC instants) or :day
    columns: tuple[tuple[str, pa.DataType], ...]


def _select(columns: tuple[tuple[str, pa.DataType], ...], rest: str) -> str:
    return "SELECT " + ", ".join(name for name, _ in columns) + " " + rest


_PRICES = (
    ("race_id", pa.string()), ("horse_id", pa.string()), ("bookmaker_id", pa.string()),
    ("race_date", pa.date32()), ("off_dt", _TS), ("course", pa.string()), ("race_name", pa.string()),
    ("horse_name", pa.string()), ("bookmaker_name", pa.string()), ("bookmaker_type", pa.string()),
    ("odds_decimal", pa.float64()), ("odds_fractional", pa.string()), ("market_status", pa.string()),
    ("odds_timestamp", _TS), ("fetched_at", _TS), ("updated_at", _TS))
_HISTORY = (
    ("race_id", pa.string()), ("horse_id", pa.string()), ("bookmaker_id", pa.string()),
    ("odds_decimal", pa.float64()), ("odds_fractional", pa.string()), ("changed_at", _TS), ("observed_at", _TS))
_LINES = (
    ("race_id", pa.string()), ("horse_id", pa.string()), ("race_date", pa.date32()),
    ("opening_price", pa.float64()), ("opening_at", _TS), ("closing_price", pa.float64()), ("closing_at", _TS),
    ("closing_books", pa.int64()), ("industry_sp", pa.float64()), ("betfair_sp", pa.float64()))
_RESULTS = (
    ("race_id", pa.string()), ("horse_id", pa.string()), ("date_of_race", _TS), ("country", pa.string()),
    ("track", pa.string()), ("race_time", pa.time64("us")), ("match_timestamp", _TS), ("race_name", pa.string()),
    ("race_type", pa.string()), ("race_class", pa.int64()), ("distance", pa.string()), ("going", pa.string()),
    ("runners_count", pa.int64()), ("horse_name", pa.string()), ("jockey", pa.string()), ("trainer", pa.string()),
    ("official_rating", pa.int64()), ("stall_number", pa.int64()), ("finishing_position", pa.string()),
    ("industry_sp", pa.float64()), ("sp_fractional", pa.string()), ("sp_favorite_position", pa.int64()),
    ("betfair_sp", pa.float64()), ("pre_race_min", pa.float64()), ("pre_race_max", pa.float64()),
    ("last_price_before_off", pa.float64()), ("sp_win_return", pa.float64()), ("place_return", pa.float64()),
    ("ew_return", pa.float64()))

KINDS = {
    # The live prices of the day's races: the closing snapshot once they are off.
    "prices": Kind("prices", _select(_PRICES, "FROM ra_odds_live WHERE race_date = :day "
                                              "ORDER BY race_id, horse_id, bookmaker_id"), _PRICES),
    # Every price change a bookmaker made that UTC day (changed_at), as the history partitions hold it.
    "history": Kind("history", _select(_HISTORY, "FROM ra_odds_history WHERE changed_at >= :low AND changed_at < :high "
                                                 "ORDER BY race_id, horse_id, bookmaker_id, changed_at"), _HISTORY),
    "lines": Kind("lines", _select(_LINES, "FROM ra_market_lines WHERE race_date = :day "
                                           "ORDER BY race_id, horse_id"), _LINES),
    # Our results (the replaced service's rows, without ids, are left out).
    "results": Kind("results", _select(_RESULTS, "FROM ra_odds_historical WHERE date_of_race >= :low "
                                                 "AND date_of_race < :high AND race_id IS NOT NULL "
                                                 "ORDER BY race_id, horse_id"), _RESULTS),
}


class ExportError(ValueError):
    """Bad input to an export (a range, a kind, a directory); str() is the one line to show."""


def day_params(day: date) -> dict:
    low = datetime.combine(day, time(), timezone.utc)
    return {"day": day, "low": low, "high": low + timedelta(days=1)}


def check_request(first: date, last: date, kinds: list[str], fmt: str, out: Path, today: date) -> None:
    """Every check before a byte is written: a range within 2015..today, known kinds and format,
    a directory that can be written."""
    if first > last:
        raise ExportError(f"--from {first} is after --to {last}")
    if first < FIRST_DATE:
        raise ExportError(f"--from {first} is before {FIRST_DATE}: there is no data that old")
    if last > today:
        raise ExportError(f"--to {last} is after today ({today}): nothing to export yet")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ExportError(f"--what {','.join(unknown)}: expected {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: expected {' or '.join(FORMATS)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ExportError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def file_name(kind: str, day: date, fmt: str) -> str:
    return f"{kind}-{day.isoformat()}.{fmt}"


def stream_batches(session: Session, kind: Kind, params: dict,
                   batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The query's rows as Arrow record batches of `batch_rows`, from a server-side cursor
    (PostgreSQL; SQLite reads the same way, row by row)."""
    schema = pa.schema(kind.columns)
    # Options on the statement, not the connection: the session's later statements run as usual.
    # Typed binds: the instants stored as each database stores them (SQLite: naive UTC text).
    binds = [bindparam(name, type_=UTCDateTime() if name in ("low", "high") else Date())
             for name in params if f":{name}" in kind.sql]
    query = text(kind.sql).bindparams(*binds).execution_options(stream_results=True, max_row_buffer=batch_rows)
    result = session.connection().execute(query, params)
    while True:
        rows = result.fetchmany(batch_rows)
        if not rows:
            break
        columns = list(zip(*rows, strict=True))
        yield pa.RecordBatch.from_arrays(
            [_array(col, t) for col, (_, t) in zip(columns, kind.columns, strict=True)], schema=schema)


def _array(values, arrow_type: pa.DataType):
    """One column of a batch; values are converted one by one only when the driver's type is
    not one Arrow takes as it is (a column's values all come in one type)."""
    sample = next((v for v in values if v is not None), None)
    if sample is None or _fits(sample, arrow_type):
        return pa.array(list(values), type=arrow_type)
    return pa.array([_value(v, arrow_type) for v in values], type=arrow_type)


def _fits(value, arrow_type: pa.DataType) -> bool:
    if pa.types.is_floating(arrow_type):
        return isinstance(value, float)
    if pa.types.is_timestamp(arrow_type):
        return isinstance(value, datetime) and value.tzinfo is not None
    if pa.types.is_date(arrow_type):
        return isinstance(value, date) and not isinstance(value, datetime)
    if pa.types.is_time(arrow_type):
        return isinstance(value, time)
    return True


def _value(value, arrow_type: pa.DataType):
    """Values the drivers return that Arrow's types do not take as they are: numeric columns
    (Decimal), SQLite's naive datetimes (UTC), and text dates or times."""
    if value is None:
        return None
    if pa.types.is_floating(arrow_type):
        return float(value)
    if pa.types.is_timestamp(arrow_type):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if pa.types.is_date(arrow_type) and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if pa.types.is_time(arrow_type) and isinstance(value, str):
        return time.fromisoformat(value)
    return value


def write_file(batches: Iterator[pa.RecordBatch], kind: Kind, fmt: str, path: Path) -> int:
    """Write the batches to `path` atomically (a temporary file beside it, renamed over it);
    the rows written. On any error the temporary file goes and `path` is as it was."""
    schema = pa.schema(kind.columns)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    rows = 0
    try:
        if fmt == "parquet":
            # No creation time in the file: a re-run writes the same bytes.
            with pq.ParquetWriter(temporary, schema, compression="zstd", write_statistics=True) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
                if rows == 0:
                    writer.write_table(schema.empty_table())
        else:
            with open(temporary, "w", newline="", encoding="utf-8") as stream:
                out = csv.writer(stream)
                out.writerow(schema.names)
                for batch in batches:
                    for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                        out.writerow(["" if v is None else _csv(v) for v in row])
                    rows += batch.num_rows
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return rows


def _csv(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


class Written(NamedTuple):
    kind: str
    day: date
    path: Path
    rows: int


def export(session: Session, first: date, last: date, kinds: list[str], fmt: str, out: Path,
           today: date | None = None) -> list[Written]:
    """One file per day and kind in `out`, named `KIND-YYYY-MM-DD.FORMAT`."""
    today = today or datetime.now(timezone.utc).date()
    check_request(first, last, kinds, fmt, out, today)
    written = []
    day = first
    while day <= last:
        for name in kinds:
            kind = KINDS[name]
            path = out / file_name(name, day, fmt)
            rows = write_file(stream_batches(session, kind, day_params(day)), kind, fmt, path)
            written.append(Written(name, day, path, rows))
        day += timedelta(days=1)
    return written
