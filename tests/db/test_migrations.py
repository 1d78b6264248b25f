"""The migrations build the schema the models describe, both ways, on both databases."""
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from darkhorses.db.migrations import downgrade, upgrade
from darkhorses.models import Base
from darkhorses.models.base import include_name
from tests.support import REPO, service_env


def _pending_diff(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_upgrade_downgrade_upgrade_on_postgresql_matches_the_models(pg_database):
    assert _pending_diff(pg_database) == []
    downgrade(pg_database, "base")
    engine = create_engine(pg_database)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(pg_database)
    assert _pending_diff(pg_database) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ra_bookmakers")).scalar() == 26
        assert conn.execute(text("SELECT count(*) FROM ra_bookmakers WHERE bookmaker_type = 'exchange'")).scalar() == 4
    engine.dispose()


def test_migrate_command_builds_the_schema_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path}/dh.db"
    result = subprocess.run([sys.executable, "-m", "darkhorses", "migrate"], cwd=REPO,
                            env=service_env(DATABASE_URL=url), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout
    assert _pending_diff(url) == []
    inspector = inspect(create_engine(url))
    tables = set(inspector.get_table_names())
    assert {"ra_live_prices", "ra_odds_moves", "ra_odds_historical", "ra_odds_statistics",
            "ra_bookmakers", "ra_collection_ledger", "ra_task_status", "ra_live_races"} <= tables
    assert {"ra_odds_live", "ra_odds_history"} <= set(inspector.get_view_names())


def test_migrate_command_masks_the_database_password(pg_database):
    url = pg_database.replace("postgres@", "postgres:hunter2@")
    result = subprocess.run([sys.executable, "-m", "darkhorses", "migrate"], cwd=REPO,
                            env=service_env(DATABASE_URL=url), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "***" in result.stdout
