"""Statistics over the collected data, every 10 minutes (queue `stats`)."""
from ..celery_app import app
from .. import stats


@app.task(name="darkhorses.stats.update")
def update():
    return stats.update_statistics()
