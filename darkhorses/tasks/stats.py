"""Statistics over the collected data, every 10 minutes (queue `stats`)."""
from ..core import task_names
from ..core.settings import get_settings
from ..db import session_scope
from ..stats.compute import update_statistics
from .app import app


@app.task(name=task_names.STATS_UPDATE)
def update():
    with session_scope() as session:
        return update_statistics(session, get_settings())
