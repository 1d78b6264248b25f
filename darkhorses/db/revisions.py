"""Alembic's configuration for this repository, the revisions it knows, and stamping."""
from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

REPO = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(REPO / "alembic.ini"))
    config.set_main_option("script_location", str(REPO / "alembic"))
    config.attributes["configure_logging"] = False
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def stamp(connection: Connection, revision: str = "head") -> None:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    script = ScriptDirectory.from_config(alembic_config())
    MigrationContext.configure(connection).stamp(script, revision)
