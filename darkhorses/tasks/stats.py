"""Statistics over the collected data, every 10 minutes (queue `stats`)."""
from .. import stats
from ..celery_app import app
from ..db import session_scope
from ..settings import get_settings
from . import names


@app.task(name=names.STATS_UPDATE)
def update():
    with session_scope() as session:
        return stats.update_statistics(session, get_settings())
