"""Database upkeep, daily (queue `stats`)."""
from ..celery_app import app
from .. import maintenance


@app.task(name="darkhorses.maintenance.partitions")
def partitions():
    return maintenance.maintain_partitions()
