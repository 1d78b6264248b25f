"""Database upkeep, daily (queue `stats`)."""
from ..core import task_names
from ..core.settings import get_settings
from ..db import session_scope
from ..db.partitions import maintain_partitions
from .app import app


@app.task(name=task_names.MAINTENANCE_PARTITIONS)
def partitions():
    with session_scope() as session:
        return maintain_partitions(session, get_settings().history_retention_months)
