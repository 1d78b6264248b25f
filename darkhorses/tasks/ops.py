"""Operations: alerts to a webhook when something needs a person (queue `stats`)."""
from .. import alerts
from ..celery_app import app
from . import names


@app.task(name=names.OPS_ALERTS, ignore_result=True)
def check_alerts():
    return alerts.check_and_notify()
