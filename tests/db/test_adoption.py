"""`migrate` adopts the replaced service's database: no row lost or changed, faults shown,
old dates skipped unless refreshed, a foreign database refused, a downgrade undoes it all."""
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import create_engine, inspect, text

from darkhorses.core.clock import uk_date
from darkhorses.core.settings import reset_settings
from darkhorses.db.migrations import downgrade
from darkhorses.historical import planning
from darkhorses.historical.planning import dates_between
from tests.legacy import (
    GB_FOR_IRISH_PER_DATE,
    RACES_PER_DATE,
    RUNNERS,
    TWELVE_HOUR_PER_DATE,
    build_legacy,
    old_rows,
    own_database,
    snapshot,
)
from tests.support import REPO, service_env

OLD_DATES = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3), date(2024, 3, 4)]


def migrate(url):
    return subprocess.run([sys.executable, "-m", "darkhorses", "migrate"], cwd=REPO,
                          env=service_env(DATABASE_URL=url), capture_output=True, text=True, timeout=180)


def schema(url):
    """Tables and views, each table's columns with types, and the indexes: the shape to compare."""
    engine = create_engine(url)
    with engine.connect() as conn:
        columns = sorted(tuple(r) for r in conn.execute(text(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public'")))
        indexes = sorted(tuple(r) for r in conn.execute(text(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")))
        views = sorted(inspect(conn).get_view_names())
    engine.dispose()
    return columns, indexes, views


def test_adoption_keeps_every_row_shows_faults_and_refreshes_a_date(monkeypatch, simulator):
    yesterday = uk_date(datetime.now(timezone.utc)) - timedelta(days=1)
    with own_database() as url:
        build_legacy(url, OLD_DATES + [yesterday])
        before = snapshot(url)
        assert sum(len(rows) for rows in before.values()) == 16 + 300 + 20 + 5 * RACES_PER_DATE * RUNNERS

        result = migrate(url)
        assert result.returncode == 0, result.stderr
        assert "adopted the old service's database" in result.stdout
        assert old_rows(snapshot(url), before) == before  # every old row, every contract column, unchanged
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
            ledger = dict(conn.execute(text(
                "SELECT race_date, legacy_rows FROM ra_collection_ledger WHERE status = 'legacy'")).all())
            assert ledger == {d: RACES_PER_DATE * RUNNERS for d in OLD_DATES + [yesterday]}
            assert conn.execute(text("SELECT count(*) FROM ra_bookmakers")).scalar() == 26
            assert conn.execute(text("SELECT bookmaker_name FROM ra_bookmakers WHERE bookmaker_id = 'betfair'")
                                ).scalar() == "Betfair"  # the old row, not ours
        assert migrate(url).returncode == 0 and old_rows(snapshot(url), before) == before  # again: nothing to do

        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings()
        from darkhorses.core.settings import get_settings
        from darkhorses.db import session_scope
        from darkhorses.ops.status import collect_status, render_status
        with session_scope() as session:
            report = collect_status(session, get_settings())
        assert report["legacy"] == {"rows_without_ids": 5 * RACES_PER_DATE * RUNNERS,
                                    "twelve_hour_race_time": 5 * TWELVE_HOUR_PER_DATE,
                                    "gb_for_irish_race": 5 * GB_FOR_IRISH_PER_DATE, "dates_covered": 5,
                                    "first_date": "2024-03-01", "last_date": yesterday.isoformat()}
        assert "12-hour race_time" in render_status(report)

        # A backfill skips the old dates; with --refresh, yesterday is re-collected by ids.
        with session_scope() as session:
            planned = planning.plan(session, OLD_DATES[0], yesterday)
        assert planned == [
            d for d in dates_between(OLD_DATES[0], yesterday) if d not in OLD_DATES + [yesterday]]
        cli = subprocess.run([sys.executable, "-m", "darkhorses", "backfill", yesterday.isoformat(),
                              yesterday.isoformat(), "--refresh"], cwd=REPO, capture_output=True, text=True,
                             env=service_env(DATABASE_URL=url, RACING_API_URL=simulator.url,
                                             RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim"), timeout=300)
        assert cli.returncode == 0, cli.stderr
        with engine.connect() as conn:
            rows, runners, without_ids = conn.execute(text(
                "SELECT count(*), count(DISTINCT (race_id, horse_id)), count(*) FILTER (WHERE race_id IS NULL) "
                "FROM ra_odds_historical WHERE date_of_race = :d"),
                {"d": datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=timezone.utc)}).one()
            status, legacy_rows, ledger_runners = conn.execute(text(
                "SELECT status, legacy_rows, runners FROM ra_collection_ledger WHERE race_date = :d"),
                {"d": yesterday}).one()
            old_left = conn.execute(text("SELECT count(*) FROM ra_odds_historical WHERE race_id IS NULL")).scalar()
        engine.dispose()
        assert rows > 0 and rows == runners == ledger_runners and without_ids == 0  # one row per runner
        assert (status, legacy_rows) == ("complete", 0)
        assert old_left == 4 * RACES_PER_DATE * RUNNERS  # the other old dates are untouched


def test_downgrade_of_an_adopted_database_leaves_the_old_tables_as_they_were():
    with own_database() as url:
        build_legacy(url, OLD_DATES)
        before_rows, before_schema = snapshot(url), schema(url)
        assert migrate(url).returncode == 0
        assert schema(url) != before_schema  # ours were added
        downgrade(url, "base")
        assert _only_alembic(schema(url), before_schema)  # columns, types, defaults, indexes, no view
        assert snapshot(url) == before_rows
        assert migrate(url).returncode == 0  # and it can be adopted again
        assert old_rows(snapshot(url), before_rows) == before_rows


def _only_alembic(after, before):
    """Equal but for the (empty) alembic_version table alembic leaves behind."""
    strip = (lambda rows: [r for r in rows if r[0] != "alembic_version"])
    return all(strip(a) == strip(b) for a, b in zip(after, before, strict=True))


def test_a_foreign_database_is_refused_with_one_line_and_left_untouched():
    with own_database() as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE customers (id serial PRIMARY KEY, name text)"))
            conn.execute(text("INSERT INTO customers (name) VALUES ('Ada')"))
        before = schema(url)
        result = migrate(url)
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("migrate refused:") and "customers" in lines[0]
        assert schema(url) == before
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM customers")).scalars().all() == ["Ada"]
        engine.dispose()


def _head() -> str:
    """The newest migration: adoption migrates all the way, whichever that is."""
    from alembic.script import ScriptDirectory

    from darkhorses.db.revisions import alembic_config
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
