"""Operations: alerts to a webhook when something needs a person (queue `stats`)."""
from ..core import task_names
from ..core.settings import get_settings
from ..core.store import store_for
from ..db import session_scope
from ..ops.alerts import check_and_notify
from .app import app


@app.task(name=task_names.OPS_ALERTS, ignore_result=True)
def check_alerts():
    settings = get_settings()
    with session_scope() as session:
        return check_and_notify(session, settings, store_for(settings))
