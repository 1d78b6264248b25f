"""The Celery application: `celery -A darkhorses ...` finds it as `darkhorses.app`."""
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
    """kombu 5.7: when Redis goes away, closing the broken connection restores the unacked
    messages through a client that no longer exists, raising AttributeError, and the worker
    exits with "Unrecoverable error" instead of reconnecting. Those messages stay in Redis's
    unacked hash (re-delivered after the visibility timeout) or were lost with Redis anyway,
    so skipping the restore here loses nothing, and the worker reconnects."""
    from kombu.transport import redis as kombu_redis
    restore = kombu_redis.QoS.restore_unacked
    if restore.__module__ == __name__:  # already ours (the module imported twice)
        return

    def restore_unacked(self, client=None):
        try:
            return restore(self, client)
        except AttributeError:
            return None
    kombu_redis.QoS.restore_unacked = restore_unacked  # type: ignore[method-assign]  # the patch itself


_survive_broker_restart()

from . import signals as _signals  # noqa: E402,F401  (connects the task-status signal handlers)
