"""Statistics over the collected data, every 10 minutes (queue `stats`)."""
from .. import stats
from ..celery_app import app
from . import names


@app.task(name=names.STATS_UPDATE)
def update():
    return stats.update_statistics()
