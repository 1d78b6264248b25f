"""The Celery application: `celery -A darkhorses ...` finds it as `darkhorses.app`."""
import logging
import os
import sys

from celery import Celery, signals

app = Celery("darkhorses")
app.config_from_object("celeryconfig")
app.conf.include = ["darkhorses.tasks.live", "darkhorses.tasks.historical", "darkhorses.tasks.stats",
                    "darkhorses.tasks.maintenance", "darkhorses.tasks.ops"]


def _refuse_without_credentials(what: str) -> None:
    """Production entry points never fall back to fake data: no credentials, no start.
    The embedded `run` mode sets DARKHORSES_SIMULATOR when it serves the simulator."""
    from ..core.settings import get_settings
    if not get_settings().has_credentials and not os.environ.get("DARKHORSES_SIMULATOR"):
        print(f"darkhorses: refusing to start the {what}: RACING_API_USERNAME and "
              "RACING_API_PASSWORD are not set (for a demo on the bundled simulator use "
              "`python -m darkhorses run`)", file=sys.stderr)
        raise SystemExit(2)


@signals.celeryd_init.connect
def _check_worker(**_):
    _refuse_without_credentials("worker")


@signals.beat_init.connect
def _check_beat(**_):
    _refuse_without_credentials("beat")


@signals.worker_process_init.connect
def _fresh_connections(**_):
    # A forked pool process must not share the parent's pooled database connections.
    from ..db import dispose_engines
    dispose_engines()


def _survive_broker_restart() -> None:
    """kombu 5.7's Redis transport crashes the worker on a Redis restart in two places; both are
    patched here (each patch checks it is not applied twice).

    1. Closing the broken connection restores the unacked messages through a client that no
       longer exists (AttributeError). Those messages stay in Redis's unacked hash
       (re-delivered after the visibility timeout) or were lost with Redis anyway, so skipping
       the restore loses nothing, and the worker reconnects.
    2. A task that finishes after the connection was lost is acknowledged (acks_late) on its
       closed channel: `QoS.ack -> _remove_from_indices -> pipe_or_acquire ->
       Channel._connparams` reads `self.connection.client` with `connection` already None, and
       the AttributeError escapes `Message.ack_log_error`, which only forgives the transport's
       connection errors: "Unrecoverable error: AttributeError("'NoneType' object has no
       attribute 'client'")", exit 1. The same closed-channel failure is reported upstream in
       celery/kombu#320 (the pidbox channel) and, for the AMQP transport, handled by
       celery/celery#6654 ("Couldn't ack ..., connection already closed", logged, not fatal).
       Here an ack or reject on a closed channel is dropped with a warning: the message stays
       in the unacked hash and Redis re-delivers it after the visibility timeout (every task
       is idempotent; a stale live poll is refused by the lease), or Redis lost it anyway.
    """
    import functools

    from kombu.transport import redis as kombu_redis
    from kombu.transport.virtual import QoS as VirtualQoS
    qos = kombu_redis.QoS
    if getattr(qos.restore_unacked, "__module__", "") == __name__:  # already ours (the module imported twice)
        return
    restore = qos.restore_unacked

    @functools.wraps(restore)
    def restore_unacked(self, client=None):
        try:
            return restore(self, client)
        except AttributeError:
            return None

    def forgiving(settle):
        @functools.wraps(settle)
        def on_open_channel(self, delivery_tag, *args, **kwargs):
            try:
                return settle(self, delivery_tag, *args, **kwargs)
            except AttributeError:
                if getattr(self.channel, "connection", None) is not None:
                    raise  # not the closed-channel case: a real bug
                logging.getLogger(__name__).warning(
                    "broker connection lost before message %s was settled; Redis re-delivers it "
                    "after the visibility timeout if it kept it", delivery_tag)
                VirtualQoS.ack(self, delivery_tag)  # forget it in this process
                return None
        on_open_channel.__module__ = __name__
        return on_open_channel

    restore_unacked.__module__ = __name__
    qos.restore_unacked = restore_unacked  # type: ignore[method-assign]  # the patch itself
    qos.ack = forgiving(qos.ack)  # type: ignore[method-assign]
    qos.reject = forgiving(qos.reject)  # type: ignore[method-assign]


_survive_broker_restart()

from . import signals as _signals  # noqa: E402,F401  (connects the task-status signal handlers)
from .heartbeat import WorkerHeartbeat  # noqa: E402

app.steps["worker"].add(WorkerHeartbeat)
