"""The self-scheduling live loop, its guard and its watchdog (queue `live`)."""
from __future__ import annotations

import logging

from ..core import task_names
from ..core.settings import get_settings
from ..core.store import store_for
from ..historical.same_day import store_same_day
from ..live import lease
from ..live.cycle import TurnLost, run_cycle
from ..racing_api.client import CredentialsRejected, RacingAPIClient
from .app import app
from .heartbeat import guard

log = logging.getLogger(__name__)


@app.task(name=task_names.LIVE_POLL, ignore_result=True)
def poll(loop_id: str | None = None, seq: int = 0):
    """One cycle of the live loop, then its successor enqueued with a countdown from race proximity.

    `loop_id`: the loop this message belongs to; None for a kick-off (a manual `celery call`,
    the `run` command), which starts a new loop only if the current one is dead.
    `seq`: the message's place in its loop. A scheduled message runs only if the lease waits
    for its loop and sequence, and hands the lease to `seq + 1` before enqueueing that
    successor, so a stale or duplicate message exits without polling.
    """
    settings = get_settings()
    store = store_for(settings)
    held = lease.claim(store, loop_id, seq, settings.live_cycle_timeout)
    if held is None:
        log.info("live poll skipped: another live loop holds the lease")
        return {"status": "skipped", "reason": "another live loop holds the lease"}
    loop_id, seq = held.loop, held.seq
    error: Exception | None = None
    client = RacingAPIClient(settings)
    try:
        summary = run_cycle(client, settings=settings, store_results=store_same_day,
                            confirm=lambda: lease.holds(store, held))
        countdown, outcome = summary.next_poll_seconds, {"ok": True, **summary.as_dict()}
    except TurnLost:
        log.warning("live loop %s: replaced while its cycle %d ran (nothing written); this one stops", loop_id, seq)
        return {"status": "replaced", "loop": loop_id, "seq": seq}
    except CredentialsRejected as exc:
        # Rejected credentials need a person: poll slowly until they work again.
        error, countdown, outcome = exc, settings.live_credentials_backoff, {"ok": False, "error": str(exc)}
    except Exception as exc:
        error, countdown = exc, settings.live_failure_backoff
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()
    # The successor is enqueued even after a failure: the loop must outlive a bad cycle.
    if lease.hand_over(store, held, countdown, settings.live_lease_grace):
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


def revive_dead_loop(who: str) -> lease.Lease | None:
    """Take over the live loop if it is dead and enqueue the new loop's first poll; the new
    lease, or None when the loop lives (or another process took it over first)."""
    settings = get_settings()
    store = store_for(settings)
    taken = lease.take_over(store, settings.live_lease_grace)
    if taken is None:
        return None
    new, reason = taken
    countdown = lease.seconds_until(new)
    log.warning("%s: %s; loop %s takes over, first poll in %.0fs", who, reason, new.loop, countdown)
    poll.apply_async(args=[new.loop, 0], countdown=countdown)
    return new


@app.task(name=task_names.LIVE_WATCHDOG)
def watchdog():
    """The backstop beside every live worker's guard: revive a dead loop (beat runs this every minute)."""
    return "restarted" if revive_dead_loop("live watchdog") else "alive"


# Every worker on the live queue checks the loop every HEARTBEAT_SECONDS: a worker that
# boots takes over a dead loop at once, and one whose loop's holder dies notices within
# seconds, instead of the watchdog's minute.
guard(task_names.LIVE_QUEUE, "live-guard", lambda: revive_dead_loop("live guard"))
