"""Archive before retention (PostgreSQL): a month past HISTORY_RETENTION_MONTHS is written to
Parquet and checked before its partition is dropped; a month that fails to archive is kept."""
from datetime import date, datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from darkhorses.core.settings import reset_settings
from darkhorses.db import partitions, session_scope
from darkhorses.db.migrations import upgrade
from darkhorses.models import OddsHistory
from darkhorses.tasks.maintenance import partitions as partitions_task
from tests.support import scratch_database

MONTH = date(2025, 3, 1)
COLUMNS = "race_id, horse_id, bookmaker_id, odds_decimal, odds_fractional, changed_at, observed_at"


@pytest.fixture
def own_database(monkeypatch):
    """Partitions are made and dropped: a database of this test's own."""
    with scratch_database("darkhorses_archive") as url:
        upgrade(url)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("HISTORY_RETENTION_MONTHS", "12")
        reset_settings()
        yield url


def _month_rows():
    with session_scope() as session:
        return [dict(r._mapping) for r in session.execute(text(
            f"SELECT {COLUMNS} FROM ra_odds_history WHERE changed_at >= '2025-03-01Z' AND changed_at < '2025-04-01Z' "
            "ORDER BY race_id, horse_id, bookmaker_id, changed_at"))]


def _partitions():
    with session_scope() as session:
        return partitions.existing_partitions(session)


def test_month_archived_then_dropped_and_read_back_whole(own_database, tmp_path, monkeypatch):
    with session_scope() as session:
        partitions.create_partition(session, MONTH)
        start = datetime(2025, 3, 1, tzinfo=timezone.utc)
        for i in range(500):
            at = start + timedelta(minutes=89 * i)  # spread over the whole month
            session.add(OddsHistory(race_id=f"rac_{i // 60}", horse_id=f"hrs_{i % 12}", bookmaker_id=f"b{i % 5}",
                                    odds_decimal=1.5 + i / 7, odds_fractional=None if i % 9 == 0 else f"{i}/7",
                                    changed_at=at, observed_at=at + timedelta(seconds=30)))
    before = _month_rows()
    assert len(before) == 500 and before[-1]["changed_at"] < datetime(2025, 4, 1, tzinfo=timezone.utc)

    # An archive directory that cannot be written: the month is past retention but kept, whole.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("HISTORY_ARCHIVE_DIR", str(blocker / "archive"))
    reset_settings()
    summary = partitions_task()
    assert summary["kept_unarchived"] == [partitions.partition_name(MONTH)] and summary["dropped"] == []
    assert MONTH in _partitions() and len(_month_rows()) == 500

    # With a good directory: archived, checked, dropped; the file holds every row and value.
    archive = tmp_path / "archive"
    monkeypatch.setenv("HISTORY_ARCHIVE_DIR", str(archive))
    reset_settings()
    summary = partitions_task()
    assert summary["archived"] == summary["dropped"] == [partitions.partition_name(MONTH)]
    assert MONTH not in _partitions() and _month_rows() == []
    assert [p.name for p in archive.iterdir()] == ["history-2025-03.parquet"]
    assert pq.read_table(archive / "history-2025-03.parquet").to_pylist() == before


def test_an_archive_short_of_rows_keeps_the_month(own_database, tmp_path, monkeypatch):
    with session_scope() as session:
        partitions.create_partition(session, MONTH)
        at = datetime(2025, 3, 10, tzinfo=timezone.utc)
        for i in range(3):
            session.add(OddsHistory(race_id="r", horse_id=f"h{i}", bookmaker_id="b", odds_decimal=2.0,
                                    changed_at=at, observed_at=at))
    from darkhorses.analysis import archive as archive_module
    real = archive_module.write_file
    monkeypatch.setattr(archive_module, "write_file", lambda *a, **k: real(*a, **k) - 1)  # a short count
    monkeypatch.setenv("HISTORY_ARCHIVE_DIR", str(tmp_path / "archive"))
    reset_settings()
    summary = partitions_task()
    assert summary["kept_unarchived"] == [partitions.partition_name(MONTH)]
    assert len(_month_rows()) == 3
