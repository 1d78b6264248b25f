"""The history archive: before retention drops a month of ra_odds_history, the month is written
to Parquet in HISTORY_ARCHIVE_DIR (`history-YYYY-MM.parquet`, the columns of the `history`
export) and the file's row count checked against the partition. Only a month whose file holds
every row may be dropped; any failure keeps the partition (and is logged) for the next run.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timezone
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import text
from sqlalchemy.orm import Session

from .export import KINDS, stream_batches, write_file

log = logging.getLogger(__name__)


def archive_name(month: date) -> str:
    return f"history-{month:%Y-%m}.parquet"


def _month_bounds(month: date) -> dict:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return {"low": datetime.combine(month, time(), timezone.utc),
            "high": datetime.combine(following, time(), timezone.utc)}


def archive_month(session: Session, month: date, directory: str | Path) -> bool:
    """Write the month's history to Parquet and check it; True when the month may be dropped."""
    path = Path(directory) / archive_name(month)
    bounds = _month_bounds(month)
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        expected = session.execute(text("SELECT count(*) FROM ra_odds_history "
                                        "WHERE changed_at >= :low AND changed_at < :high"), bounds).scalar_one()
        written = write_file(stream_batches(session, KINDS["history"], bounds), KINDS["history"], "parquet", path)
        in_file = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:
        log.error("history archive of %s failed, so the month is kept: %s", f"{month:%Y-%m}", exc)
        return False
    if not expected == written == in_file:
        log.error("history archive of %s holds %d rows where the partition has %d; the month is kept",
                  f"{month:%Y-%m}", in_file, expected)
        return False
    log.info("history of %s archived to %s (%d rows)", f"{month:%Y-%m}", path, in_file)
    return True
