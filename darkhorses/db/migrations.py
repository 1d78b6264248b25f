"""`alembic upgrade head` from code, for the CLI, the `run` command and tests."""
from __future__ import annotations

from pathlib import Path

from alembic import command

from .revisions import alembic_config


def upgrade(database_url: str | None = None, revision: str = "head") -> dict:
    """Upgrade an empty database or ours; adopt the replaced service's (one transaction);
    raise ForeignDatabase, having changed nothing, for anything else. Returns what was done."""
    from sqlalchemy import create_engine, pool

    from ..core.settings import get_settings, mask_url
    from .adoption import ForeignDatabase, adopt, classify
    url = database_url or get_settings().database_url
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            kind, tables = classify(connection)
            if kind == "foreign":
                raise ForeignDatabase(
                    f"the database at {mask_url(url)} holds tables that are neither DarkHorses Workers' nor the "
                    f"old service's ({', '.join(tables[:5])}{', …' if len(tables) > 5 else ''}); nothing was "
                    "changed: point DATABASE_URL at an empty database, ours, or the old service's")
            result = adopt(connection) if kind == "legacy" else {"adopted": False, "found": kind}
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), revision)
    return result


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
