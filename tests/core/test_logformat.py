"""LOG_FORMAT=json: the formatter, and every line of a real worker, beat, `run` and the CLI parsed."""
import json
import logging
import signal
import subprocess
import sys

import pytest

from darkhorses.core.logformat import JsonFormatter
from tests.support import celery_beat, celery_worker, stop_process, wait_for
from tests.tasks.test_live import cycles, loop_env

KEYS = {"time", "level", "logger", "message"}


def record(message, *args, **extra):
    rec = logging.LogRecord("darkhorses.live", logging.WARNING, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_one_object_per_line_with_the_task_and_race_id():
    line = json.loads(JsonFormatter().format(record("race %s: runner withdrawn", "rac_123456", task_name="t",
                                                    task_id="abc")))
    assert line["level"] == "WARNING" and line["logger"] == "darkhorses.live"
    assert line["message"] == "race rac_123456: runner withdrawn"
    assert line["race_id"] == "rac_123456" and line["task"] == "t" and line["task_id"] == "abc"
    assert line["time"].endswith("+00:00")
    given = json.loads(JsonFormatter().format(record("closed", race_id="rac_9")))
    assert given["race_id"] == "rac_9" and "task" not in given
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        failed = record("cycle failed")
        failed.exc_info = sys.exc_info()
    text = JsonFormatter().format(failed)
    assert "\n" not in text and "ValueError: bad" in json.loads(text)["exception"]


def parse_every_line(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    parsed = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert isinstance(obj, dict) and KEYS <= set(obj), line
        parsed.append(obj)
    return parsed


@pytest.mark.slow
def test_every_line_of_a_worker_and_of_beat_is_json(database_url, redis_url, simulator, tmp_path):
    env = loop_env(database_url, redis_url, simulator, tmp_path, LOG_FORMAT="json", HEARTBEAT_DIR=tmp_path / "hb")
    log_path = tmp_path / "worker.log"
    beat = celery_beat(env, tmp_path)
    try:
        with celery_worker(env, queues="live,stats", pool="threads", concurrency=2, log_path=log_path):
            wait_for(lambda: cycles(log_path), timeout=60, message="a live cycle")
    finally:
        stop_process(beat)
    worker_lines = parse_every_line(log_path.read_text())
    polls = [line for line in worker_lines if line["message"].startswith("live cycle [loop")]
    assert polls and all(line["task"] == "darkhorses.live.poll" and line["task_id"] for line in polls)
    assert any("shutdown" in line["message"] for line in worker_lines), "the warm-shutdown line, as JSON"
    beat_lines = parse_every_line((tmp_path / "beat.log").read_text())
    assert any("beat starting" in line["message"] for line in beat_lines)


@pytest.mark.slow
def test_every_line_of_the_embedded_run_and_of_a_cli_command_is_json(tmp_path):
    from tests.commands.test_run import newcomer_env, run_command
    env = newcomer_env(LOG_FORMAT="json")
    process = run_command(tmp_path, env)
    lines = []
    try:
        def first_cycle():
            lines.append(process.stdout.readline())
            return "live cycle [loop" in lines[-1]
        wait_for(first_cycle, timeout=90, interval=0, message="the first live cycle")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        stop_process(process, signal.SIGKILL)
    run_lines = parse_every_line("".join(lines) + output)
    assert any("SIMULATOR" in line["message"] for line in run_lines)
    assert any(line.get("task") == "darkhorses.live.poll" for line in run_lines)
    # a CLI command: its logs (stderr) are JSON; its output (stdout) is the command's own
    result = subprocess.run([sys.executable, "-m", "darkhorses", "migrate"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cli_lines = parse_every_line(result.stderr)
    assert any(line["logger"].startswith("alembic") for line in cli_lines)
