"""Operations: alerts to a webhook when something needs a person (queue `stats`)."""
from .. import alerts
from ..celery_app import app
from ..coordination import store_for
from ..db import session_scope
from ..settings import get_settings
from . import names


@app.task(name=names.OPS_ALERTS, ignore_result=True)
def check_alerts():
    settings = get_settings()
    with session_scope() as session:
        return alerts.check_and_notify(session, settings, store_for(settings))
