"""Monthly partitions of ra_odds_moves, the price history (PostgreSQL): made ahead of time, dropped by retention.

The daily beat task `darkhorses.maintenance.partitions` keeps a partition for the current
month and MONTHS_AHEAD after it, so rows never land in the default partition in normal
running. Rows that do (a bookmaker's stamp far in the past or future) are moved into their
month's partition when it is made. With HISTORY_RETENTION_MONTHS = N > 0, partitions whose
month ended more than N whole months before the current one are dropped in one statement
each (no row-by-row delete, no bloat); 0 keeps everything. SQLite keeps one plain table.
With an `archive` step (HISTORY_ARCHIVE_DIR, darkhorses/analysis/archive.py) a month is dropped
only once the step says its rows are safe in the archive; a month it fails is kept, and so are
outlier rows of the default partition (no archive covers them).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from .engine import rowcount

log = logging.getLogger(__name__)

PARENT = "ra_odds_moves"
DEFAULT = f"{PARENT}_default"
MONTHS_AHEAD = 3
_NAME = re.compile(rf"^{PARENT}_y(\d{{4}})m(\d\d)$")


def month_start(day: date, shift: int = 0) -> date:
    months = day.year * 12 + day.month - 1 + shift
    return date(months // 12, months % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month:%Y}m{month:%m}"


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def existing_partitions(session: Session) -> list[date]:
    names = session.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:parent AS regclass)"), {"parent": PARENT}).scalars()
    return sorted(date(int(m.group(1)), int(m.group(2)), 1) for m in map(_NAME.match, names) if m)


def create_partition(session: Session, month: date) -> int:
    """Make the month's partition; rows already in the default partition for that month move
    into it (attaching over them would fail). Returns the number of rows moved."""
    name, following = partition_name(month), month_start(month, 1)
    low, high = _bound(month), _bound(following)
    session.execute(text(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS)'))
    moved = rowcount(session.execute(text(
        f'WITH moved AS (DELETE FROM {DEFAULT} WHERE changed_at >= {low} AND changed_at < {high} RETURNING *) '
        f'INSERT INTO "{name}" SELECT * FROM moved')))
    session.execute(text(f'ALTER TABLE {PARENT} ATTACH PARTITION "{name}" FOR VALUES FROM ({low}) TO ({high})'))
    return moved


class PartitionSummary(TypedDict):
    created: list[str]
    dropped: list[str]
    moved_from_default: int
    deleted_from_default: int
    skipped: NotRequired[str]
    archived: NotRequired[list[str]]
    kept_unarchived: NotRequired[list[str]]  # past retention, but the archive failed: kept


# Writes a month of history somewhere safe and checks it; True when the month may be dropped.
ArchiveStep = Callable[[Session, date], bool]


def maintain_partitions(session: Session, retention_months: int, today: date | None = None,
                        archive: ArchiveStep | None = None) -> PartitionSummary:
    """Create the partitions due, drop those past retention (0: keep all) and, with `archive`,
    archived, in `session`'s transaction; a summary for logs and Flower."""
    today = today or datetime.now(timezone.utc).date()
    summary: PartitionSummary = {"created": [], "dropped": [], "moved_from_default": 0, "deleted_from_default": 0}
    if session.get_bind().dialect.name != "postgresql":
        return {**summary, "skipped": "not PostgreSQL: history is one plain table"}
    # One maintainer at a time (beat may run twice); released at commit.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('darkhorses.partitions'))"))
    have = set(existing_partitions(session))
    this_month = month_start(today)
    for shift in range(MONTHS_AHEAD + 1):
        month = month_start(this_month, shift)
        if month not in have:
            summary["moved_from_default"] += create_partition(session, month)
            summary["created"].append(partition_name(month))
    if retention_months > 0:
        cutoff = month_start(this_month, -retention_months)
        if archive is not None:
            summary["archived"], summary["kept_unarchived"] = [], []
        for month in sorted(have):
            if month < cutoff:
                if archive is not None:
                    if not archive(session, month):
                        summary["kept_unarchived"].append(partition_name(month))
                        continue
                    summary["archived"].append(partition_name(month))
                session.execute(text(f'DROP TABLE "{partition_name(month)}"'))
                summary["dropped"].append(partition_name(month))
        if archive is None:
            summary["deleted_from_default"] = rowcount(session.execute(text(
                f"DELETE FROM {DEFAULT} WHERE changed_at < {_bound(cutoff)}")))
    if summary.get("kept_unarchived"):
        log.error("history partitions past retention kept because their archive failed: %s",
                  summary["kept_unarchived"])
    if summary["created"] or summary["dropped"]:
        log.info("history partitions: created %s, dropped %s", summary["created"], summary["dropped"])
    return summary
