"""Price history (ra_odds_moves) by month: the migrations convert a filled table without losing a row, the
maintenance task makes partitions ahead and moves outliers in, retention drops whole months."""
from datetime import date, datetime, timezone

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from darkhorses.core.settings import reset_settings
from darkhorses.db import partitions, session_scope
from darkhorses.db.migrations import downgrade, upgrade
from darkhorses.db.revisions import alembic_config
from tests.support import scratch_database


def maintain_partitions(today, retention_months=0):
    """The daily task's work, in a session of its own as the task opens one."""
    with session_scope() as session:
        return partitions.maintain_partitions(session, retention_months, today)

# (horse, bookmaker, price, changed_at): three months with rows, two prices in one month.
ROWS = [("h1", "bet365", 3.0, datetime(2025, 3, 20, 14, 0, tzinfo=timezone.utc)),
        ("h1", "bet365", 2.75, datetime(2025, 3, 20, 14, 5, tzinfo=timezone.utc)),
        ("h2", "coral", 5.5, datetime(2026, 6, 30, 23, 59, 59, tzinfo=timezone.utc)),
        ("h2", "coral", 6.0, datetime(2026, 7, 1, 0, 0, tzinfo=timezone.utc))]


@pytest.fixture
def own_database(monkeypatch):
    with scratch_database("darkhorses_part") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings()
        yield url


def _history(engine):
    """(horse, bookmaker, price, changed_at, partition) of every move, as the view reads them."""
    with engine.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT u.horse_id, b.bookmaker_id, CAST(m.odds_x10000 AS float8) / 10000, m.changed_at, "
            "m.tableoid::regclass::text FROM ra_odds_moves m JOIN ra_live_runners u USING (runner_key) "
            "JOIN ra_bookmaker_keys b USING (bookmaker_key)")).all())


def _insert(conn, race, horse, book, price, at):
    conn.execute(text("INSERT INTO ra_odds_history (race_id, horse_id, bookmaker_id, odds_decimal, "
                      "odds_fractional, changed_at, observed_at) VALUES (:r, :h, :b, :p, 'x', :at, :at)"),
                 {"r": race, "h": horse, "b": book, "p": price, "at": at})


def test_migrations_keep_every_row_and_partition_them_by_month(own_database):
    before_partitions = ScriptDirectory.from_config(alembic_config()).get_revision("0005").down_revision
    upgrade(own_database, before_partitions)
    engine = create_engine(own_database)
    with engine.begin() as conn:
        for horse, book, price, at in ROWS:
            _insert(conn, "r1", horse, book, price, at)

    upgrade(own_database)   # 0005 partitions the table, 0007 narrows it into ra_odds_moves
    rows = _history(engine)
    assert [row[:4] for row in rows] == sorted(ROWS)              # same values
    assert [row[4] for row in rows] == ["ra_odds_moves_y2025m03", "ra_odds_moves_y2025m03",
                                        "ra_odds_moves_y2026m06", "ra_odds_moves_y2026m07"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_partitioned_table "
                                 "WHERE partrelid = 'ra_odds_moves'::regclass")).scalar() == 1
    with engine.connect() as conn:
        with pytest.raises(IntegrityError):                      # the natural key stays unique
            _insert(conn, "r1", "h1", "bet365", 9, ROWS[0][3])
    with engine.begin() as conn:
        _insert(conn, "r2", "h9", "coral", 4, datetime(2031, 5, 2, 12, tzinfo=timezone.utc))
    assert _history(engine)[-1][4] == "ra_odds_moves_default"  # no partition that far ahead yet

    # The daily task, run in April 2031 with a year's retention: the outlier moves into its new
    # month, next months exist, and every month before April 2030 is dropped whole.
    summary = maintain_partitions(today=date(2031, 4, 15), retention_months=12)
    assert summary["created"] == ["ra_odds_moves_y2031m04", "ra_odds_moves_y2031m05",
                                  "ra_odds_moves_y2031m06", "ra_odds_moves_y2031m07"]
    assert summary["moved_from_default"] == 1
    assert "ra_odds_moves_y2025m03" in summary["dropped"] and "ra_odds_moves_y2026m07" in summary["dropped"]
    assert [(row[0], row[4]) for row in _history(engine)] == [("h9", "ra_odds_moves_y2031m05")]
    again = maintain_partitions(today=date(2031, 4, 15), retention_months=12)
    assert again["created"] == [] and again["dropped"] == []

    downgrade(own_database, before_partitions)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_partitioned_table")).scalar() == 0
        assert conn.execute(text("SELECT horse_id, odds_decimal FROM ra_odds_history")).all() == [("h9", 4.0)]
    engine.dispose()


def test_without_retention_nothing_is_dropped(own_database):
    upgrade(own_database)
    summary = maintain_partitions(today=date(2040, 1, 10))
    assert summary["dropped"] == [] and summary["deleted_from_default"] == 0
    assert summary["created"][0] == "ra_odds_moves_y2040m01" and len(summary["created"]) == 4


def test_sqlite_keeps_a_plain_table(sqlite_url):
    assert maintain_partitions(today=date(2026, 11, 29), retention_months=1)["skipped"].startswith("not PostgreSQL")
