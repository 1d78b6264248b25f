"""Helpers for tests (and benchmarks) that use real services: a scratch database, wait on a
condition, run a worker or a redis-server."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(what: str, exc: Exception):
    """Skip a test whose service is missing; under CI=true fail it instead."""
    message = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI=true: service tests must run)", pytrace=False)
    pytest.skip(message)


@contextmanager
def scratch_database(prefix: str = "darkhorses_test", admin_url: str = PG_ADMIN_URL, missing=unavailable):
    """An empty PostgreSQL database of our own (a random name) on `admin_url`'s server, dropped
    afterwards; the one helper of the tests and the benchmarks (bench/common.py migrates it).
    When PostgreSQL cannot be reached, `missing("PostgreSQL", error)` ends it: by default the
    test skips, or fails under CI=true; a benchmark passes its own, which ends the run in one line."""
    import uuid

    from darkhorses import db
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        missing("PostgreSQL", exc)
        raise  # `missing` must not return: no database was made
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Clock:
    """A controllable clock for the simulator and the live cycle: call it for the time, move it
    on with `advance` (or set `now`)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # the thing we wait for may not be up yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


def service_env(**overrides) -> dict:
    """The environment for a child process of the service: this repo on the path, no .env surprises."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("LOG_LEVEL", "INFO")
    env.update({k: str(v) for k, v in overrides.items() if v is not None})
    return env


@contextmanager
def celery_worker(env: dict, queues: str = "live,historical,stats", pool: str = "solo",
                  concurrency: int = 1, name: str = "test", log_path: Path | None = None):
    """A real `celery -A darkhorses worker` process; yields the Popen; stops it on exit."""
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "darkhorses", "worker", "-Q", queues,
         "-P", pool, "-c", str(concurrency), "-n", f"{name}-{os.getpid()}@%h",
         "--without-gossip", "--without-mingle", "-l", "INFO"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_process(process)
        if log_path:
            log.close()


def stop_process(process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15.0) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def celery_beat(env: dict, directory: Path, name: str = "beat") -> subprocess.Popen:
    """A real `celery -A darkhorses beat` process logging to DIRECTORY/NAME.log; stop it with stop_process."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "darkhorses", "beat", "-s", str(directory / f"{name}-schedule"),
         "-l", "INFO"], cwd=REPO, env=env, stdout=open(directory / f"{name}.log", "w"),
        stderr=subprocess.STDOUT, start_new_session=True)


def max_in_any_window(times, window: float = 1.0) -> int:
    """The most events in any `window`-second stretch (a sliding window over sorted times)."""
    times, best, start = sorted(times), 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


_TIMED_CYCLE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): [^\]]+\] "
                          r"live cycle \[loop (\w+) seq (\d+)\]( failed)?", re.MULTILINE)


def timed_cycles(*log_paths: Path) -> list[tuple[float, str, int, bool]]:
    """Every live cycle logged in these worker logs: (Unix time, loop id, seq, failed), in time order."""
    found = []
    for path in log_paths:
        if path.exists():
            found += [(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), m.group(2),
                       int(m.group(3)), bool(m.group(4))) for m in _TIMED_CYCLE.finditer(path.read_text())]
    return sorted(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of our own on a free port, to stop and start at will (no other run shares it)."""

    def __init__(self, directory):
        self.port = free_port()
        self.directory = directory
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: redis.Redis(port=self.port, socket_connect_timeout=1).ping(), timeout=20,
                 message="the test's redis-server")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def serve_as_racing_api(monkeypatch, sim):
    """Serve `sim` on a free port and point the settings at it (credentials sim/sim); returns the server."""
    from darkhorses.core.settings import reset_settings
    from darkhorses.simulator import serve
    server, url = serve(sim, port=0)
    sim.url = url
    monkeypatch.setenv("RACING_API_URL", url)
    monkeypatch.setenv("RACING_API_USERNAME", "sim")
    monkeypatch.setenv("RACING_API_PASSWORD", "sim")
    reset_settings()
    return server
