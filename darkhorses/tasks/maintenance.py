"""Database upkeep, daily (queue `stats`)."""
from .. import maintenance
from ..celery_app import app
from ..db import session_scope
from ..settings import get_settings
from . import names


@app.task(name=names.MAINTENANCE_PARTITIONS)
def partitions():
    with session_scope() as session:
        return maintenance.maintain_partitions(session, get_settings().history_retention_months)
