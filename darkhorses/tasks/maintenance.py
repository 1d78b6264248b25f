"""Database upkeep, daily (queue `stats`)."""
from .. import maintenance
from ..celery_app import app
from . import names


@app.task(name=names.MAINTENANCE_PARTITIONS)
def partitions():
    return maintenance.maintain_partitions()
