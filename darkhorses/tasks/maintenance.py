"""Database upkeep, daily (queue `stats`)."""
from functools import partial

from ..analysis.archive import archive_month
from ..core import task_names
from ..core.settings import get_settings
from ..db import session_scope
from ..db.partitions import maintain_partitions
from .app import app


@app.task(name=task_names.MAINTENANCE_PARTITIONS)
def partitions():
    settings = get_settings()
    # With HISTORY_ARCHIVE_DIR, a month past retention is dropped only once archived to Parquet.
    archive = partial(archive_month, directory=settings.history_archive_dir) if settings.history_archive_dir else None
    with session_scope() as session:
        return maintain_partitions(session, settings.history_retention_months, archive=archive)
