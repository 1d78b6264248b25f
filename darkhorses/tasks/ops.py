"""Operations: alerts to a webhook when something needs a person (queue `stats`)."""
from ..celery_app import app
from .. import alerts


@app.task(name="darkhorses.ops.alerts", ignore_result=True)
def check_alerts():
    return alerts.check_and_notify()
