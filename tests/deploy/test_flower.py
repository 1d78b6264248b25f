"""Flower as deployed: a real `celery -A darkhorses flower` over a real worker on Redis.

It needs a login (FLOWER_BASIC_AUTH) and refuses to start without one unless told it is
local (FLOWER_UNAUTHENTICATED=1); with the login it lists our tasks with their arguments
and final states. flowerconfig.py (read by Flower from the working directory) does this.
"""
from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
from contextlib import contextmanager
from datetime import date

import pytest
import requests
from celery import Celery

from darkhorses.core import task_names
from darkhorses.historical.ledger import mark as mark_ledger
from tests.support import REPO, celery_worker, free_port, service_env, stop_process, wait_for

AUTH = ("tester", "secret-pass")
FINAL_STATES = {"SUCCESS", "FAILURE", "REVOKED"}


def _app_env(**extra) -> dict:
    """A child environment that passes the production entry points' credential check."""
    return service_env(RACING_API_URL="http://127.0.0.1:9", RACING_API_USERNAME="u", RACING_API_PASSWORD="p",
                       **extra)


def _flower_env(**extra) -> dict:
    env = _app_env(**extra)
    for name in ("FLOWER_BASIC_AUTH", "FLOWER_UNAUTHENTICATED", "FLOWER_UNAUTHENTICATED_API", "PORT"):
        if name not in extra:
            env.pop(name, None)
    return env


@contextmanager
def flower(env: dict, log_path, address: str | None = "127.0.0.1"):
    """A real Flower on a free port; yields its base URL once /healthcheck answers."""
    port = free_port()
    argv = [sys.executable, "-m", "celery", "-A", "darkhorses", "flower", f"--port={port}"]
    if address:
        argv.append(f"--address={address}")
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"

            def up():
                if process.poll() is not None:
                    raise AssertionError(f"flower exited with {process.returncode}: {log_path.read_text()[-2000:]}")
                return requests.get(f"{url}/healthcheck", timeout=2).status_code == 200

            try:
                wait_for(up, timeout=30, message="flower to answer /healthcheck")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{log_path.read_text()[-2000:]}") from None
            yield url
        finally:
            stop_process(process)


@pytest.mark.slow  # a real worker and Flower process, tasks run through both
def test_flower_lists_our_tasks_behind_basic_auth(database_url, redis_url, tmp_path):
    mark_ledger(date(2026, 1, 5), status="complete", races=3, runners=30)  # the backfill finds it settled
    env = _app_env(STATS_OUTPUT_DIR=tmp_path / "stats")
    with celery_worker(env, queues="historical,stats", name="work", log_path=tmp_path / "worker.log"), \
            flower(_flower_env(FLOWER_BASIC_AUTH=f"{AUTH[0]}:{AUTH[1]}"), tmp_path / "flower.log") as url:
        # no credentials, wrong credentials: nothing, not even the task list
        assert requests.get(f"{url}/api/tasks", timeout=5).status_code == 401
        assert requests.get(f"{url}/api/tasks", auth=(AUTH[0], "wrong"), timeout=5).status_code == 401
        assert requests.get(f"{url}/tasks", timeout=5).status_code == 401

        client = Celery("flower-test-client", broker=redis_url, backend=redis_url)
        sent = {
            client.send_task(task_names.STATS_UPDATE, queue="stats").id:
                (task_names.STATS_UPDATE, None, "SUCCESS"),
            client.send_task(task_names.HISTORICAL_BACKFILL, args=["2026-01-05", "2026-01-05"],
                             queue="historical").id:
                (task_names.HISTORICAL_BACKFILL, "2026-01-05", "SUCCESS"),
            client.send_task(task_names.HISTORICAL_COLLECT_DAY, args=["not-a-date"], queue="historical").id:
                (task_names.HISTORICAL_COLLECT_DAY, "not-a-date", "FAILURE"),
        }

        def all_final():
            response = requests.get(f"{url}/api/tasks", auth=AUTH, timeout=5)
            response.raise_for_status()
            tasks = response.json()
            seen = {tid: tasks[tid] for tid in sent if tid in tasks}
            return seen if len(seen) == len(sent) and all(t["state"] in FINAL_STATES for t in seen.values()) else None

        tasks = wait_for(all_final, timeout=40, message="flower to show every task in a final state")
        for task_id, (name, arg, state) in sent.items():
            assert tasks[task_id]["name"] == name
            assert tasks[task_id]["state"] == state, (name, tasks[task_id])
            if arg:
                assert arg in tasks[task_id]["args"]

        workers = requests.get(f"{url}/api/workers", params={"refresh": "1"}, auth=AUTH, timeout=10)
        assert workers.status_code == 200

        # The compose healthcheck's command: exit 0 for our node, non-zero for another.
        node = f"work-{os.getpid()}@{socket.gethostname()}"
        ping = [sys.executable, "-m", "celery", "-A", "darkhorses", "inspect", "ping", "--timeout", "5", "-d"]
        ok = subprocess.run(ping + [node], cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        missing = subprocess.run(ping + [f"nobody@{socket.gethostname()}"], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=30)
        assert missing.returncode != 0


def test_flower_refuses_to_start_without_a_login():
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "darkhorses", "flower", f"--port={free_port()}"],
                            cwd=REPO, env=_flower_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flower: refusing to start: FLOWER_BASIC_AUTH is not set")
    assert "task arguments" in lines[0] and "FLOWER_UNAUTHENTICATED=1" in lines[0]


def test_a_malformed_login_is_refused_without_showing_it():
    secret = "no-colon-here-hunter2"
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "darkhorses", "flower", f"--port={free_port()}"],
                            cwd=REPO, env=_flower_env(FLOWER_BASIC_AUTH=secret), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert "FLOWER_BASIC_AUTH" in result.stderr and secret not in result.stderr + result.stdout


def test_flower_starts_without_a_login_when_told_it_is_local(redis_url, tmp_path):
    with flower(_flower_env(FLOWER_UNAUTHENTICATED="1"), tmp_path / "flower.log", address=None) as url:
        assert requests.get(f"{url}/workers", timeout=10).status_code == 200
        # Flower keeps its HTTP API (which can drive the workers) closed to anonymous
        # callers unless FLOWER_UNAUTHENTICATED_API is also set; we do not set it.
        assert requests.get(f"{url}/api/workers", timeout=10).status_code == 401
    assert "FLOWER_UNAUTHENTICATED=1: no login" in (tmp_path / "flower.log").read_text()


# flowerconfig.py on its own (executed as Flower does), for the values it hands to Flower.

def _config(monkeypatch, **env) -> dict:
    for name in ("FLOWER_BASIC_AUTH", "FLOWER_UNAUTHENTICATED", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from darkhorses.core.settings import reset_settings
    reset_settings()
    return runpy.run_path(str(REPO / "flowerconfig.py"))


def test_config_values(monkeypatch, capsys):
    config = _config(monkeypatch, FLOWER_BASIC_AUTH="ann:pw1, bob:pw2")
    assert config["basic_auth"] == ["ann:pw1", "bob:pw2"]
    assert "port" not in config and "address" not in config  # Flower's defaults / the command line
    assert config["persistent"] is False and 0 < config["max_tasks"] <= 100000 and config["purge_offline_workers"] > 0

    config = _config(monkeypatch, FLOWER_BASIC_AUTH="ann:pw1", PORT="10000")  # Render, Heroku
    assert config["port"] == 10000 and config["address"] == "0.0.0.0"

    config = _config(monkeypatch, FLOWER_UNAUTHENTICATED="1")
    assert config["basic_auth"] == [] and config["address"] == "127.0.0.1"

    with pytest.raises(SystemExit) as refused:
        _config(monkeypatch, FLOWER_UNAUTHENTICATED="yes")  # only "1" overrides
    assert refused.value.code == 2
    with pytest.raises(SystemExit):
        _config(monkeypatch, FLOWER_BASIC_AUTH="ann:pw1", PORT="http")
    err = capsys.readouterr().err
    assert "PORT: expected a TCP port number" in err and "pw1" not in err


def test_without_a_login_flower_stays_on_loopback_even_with_a_platform_port(monkeypatch, capsys):
    config = _config(monkeypatch, FLOWER_UNAUTHENTICATED="1", PORT="10000")
    assert config["address"] == "127.0.0.1" and config["port"] == 10000
    capsys.readouterr()
    for asked in ("0.0.0.0", "::", "192.168.1.5"):
        monkeypatch.setenv("FLOWER_ADDRESS", asked)
        with pytest.raises(SystemExit) as refused:
            _config(monkeypatch, FLOWER_UNAUTHENTICATED="1")
        assert refused.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "loopback only" in err and repr(asked) in err
    monkeypatch.setenv("FLOWER_ADDRESS", "127.0.0.1")
    assert _config(monkeypatch, FLOWER_UNAUTHENTICATED="1")["address"] == "127.0.0.1"


def test_without_a_login_an_address_beyond_loopback_on_the_command_line_is_refused():
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "darkhorses", "flower", f"--port={free_port()}",
                             "--address=0.0.0.0"], cwd=REPO, env=_flower_env(FLOWER_UNAUTHENTICATED="1", PORT="10000"),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flower: refusing to start: FLOWER_UNAUTHENTICATED=1"), result.stderr
