"""The self-scheduling live loop and its watchdog (queue `live`)."""
from __future__ import annotations

import logging

from celery.signals import worker_ready

from ..core import task_names
from ..core.settings import get_settings
from ..core.store import store_for
from ..historical.same_day import store_same_day
from ..live import lease
from ..live.cycle import run_cycle
from ..racing_api.client import CredentialsRejected, RacingAPIClient
from .app import app

log = logging.getLogger(__name__)


@app.task(name=task_names.LIVE_POLL, ignore_result=True)
def poll(loop_id: str | None = None, seq: int = 0):
    """One cycle of the live loop, then its successor enqueued with a countdown from race proximity.

    `loop_id`: the loop this message belongs to; None for a kick-off (worker boot, the watchdog,
    a manual `celery call`), which starts a new loop only if no loop holds the lease.
    `seq`: the message's place in its loop (0 for a kick-off). A scheduled message runs only if
    the lease still names its loop and sequence, and hands the lease to `seq + 1` before
    enqueueing that successor, so a stale or duplicate message exits without polling.
    """
    settings = get_settings()
    store = store_for(settings)
    loop_id = lease.claim(store, loop_id, seq, settings.live_cycle_timeout)
    if loop_id is None:
        log.info("live poll skipped: another live loop holds the lease")
        return {"status": "skipped", "reason": "another live loop holds the lease"}
    error: Exception | None = None
    client = RacingAPIClient(settings)
    try:
        summary = run_cycle(client, settings=settings, store_results=store_same_day)
        countdown, outcome = summary.next_poll_seconds, {"ok": True, **summary.as_dict()}
    except CredentialsRejected as exc:
        # Rejected credentials need a person: poll slowly until they work again.
        error, countdown, outcome = exc, settings.live_credentials_backoff, {"ok": False, "error": str(exc)}
    except Exception as exc:
        error, countdown = exc, settings.live_failure_backoff
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()
    # The successor is enqueued even after a failure: the loop must outlive a bad cycle.
    if lease.hand_over(store, loop_id, seq, countdown, settings.live_lease_grace):
        poll.apply_async(args=[loop_id, seq + 1], countdown=countdown)
    else:
        log.warning("live loop %s: lease taken over by another loop; this one stops", loop_id)
    lease.record_heartbeat(store, loop_id, seq, countdown, outcome)
    if error is not None:
        log.error("live cycle [loop %s seq %d] failed (next try in %.0fs): %s",
                  loop_id, seq, countdown, outcome["error"])
        raise error
    log.info("live cycle [loop %s seq %d]: %d races, %d runners, %d prices, %d changed, %d closed, "
             "%d past the off, %d close-outs, %d errors; next poll in %.0fs", loop_id, seq, summary.races,
             summary.runners, summary.prices, summary.changed, summary.closed, summary.past_off_open,
             summary.closeouts, summary.errors, countdown)
    return outcome


@app.task(name=task_names.LIVE_WATCHDOG)
def watchdog():
    """Start the live loop when nobody holds its lease (beat runs this every minute)."""
    if lease.is_alive(store_for(get_settings())):
        return "alive"
    log.warning("live loop lease lapsed: starting a new loop")
    poll.apply_async()
    return "restarted"


@worker_ready.connect
def _start_loop_on_boot(sender=None, **_):
    queues = getattr(getattr(sender, "app", None), "amqp", None)
    consumed = queues.queues.consume_from if queues and queues.queues.consume_from else {}
    if not consumed or task_names.LIVE_QUEUE in consumed:
        poll.apply_async()
