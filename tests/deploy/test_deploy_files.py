"""The deployment files agree with the code: services, queues, env vars, secrets.

Structural checks that need no Docker engine. When a Compose implementation is on PATH
(`docker compose` v2, or the legacy `docker-compose` 1.x), it also validates the file.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.support import REPO

COMPOSE = REPO / "docker-compose.yml"
RENDER = REPO / "render.yaml"
PROCFILE = REPO / "Procfile"
DOCKERFILE = REPO / "Dockerfile"

# Variables set by the deployment files that darkhorses/core/settings.py does not read, each
# with the reason it is allowed.
PLATFORM_VARS = {
    "PYTHON_VERSION",  # Render's native Python runtime picks the interpreter from it
}
SECRET_NAME = re.compile(r"PASSWORD|AUTH|SECRET|TOKEN|USERNAME|_KEY$")


# ---------------------------------------------------------------- helpers

def _yaml(path):
    return yaml.safe_load(path.read_text())


def _argv(command) -> list[str]:
    return list(map(str, command)) if isinstance(command, list) else shlex.split(command)


def _queues(argv: list[str]) -> set[str] | None:
    """The -Q/--queues of a `celery worker` command (None: not a worker command)."""
    if "worker" not in argv:
        return None
    for i, arg in enumerate(argv):
        if arg in ("-Q", "--queues") and i + 1 < len(argv):
            return set(argv[i + 1].split(","))
        if arg.startswith(("-Q=", "--queues=")):
            return set(arg.split("=", 1)[1].split(","))
    return set()  # no -Q: the default queue only


def _option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _is_celery(argv: list[str]) -> bool:
    return argv[:3] == ["celery", "-A", "darkhorses"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return _yaml(COMPOSE)


@pytest.fixture(scope="module")
def render() -> dict:
    return _yaml(RENDER)


@pytest.fixture(scope="module")
def procfile() -> dict[str, str]:
    entries = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, command = line.partition(":")
            assert sep and re.fullmatch(r"[A-Za-z0-9_-]+", name), f"bad Procfile line: {line!r}"
            assert name not in entries, f"Procfile defines {name!r} twice"
            entries[name] = command.strip()
    return entries


def test_settings_vars_are_found(settings_vars):
    # guards the grep itself: if settings.py changes shape, the env checks below must not go blind
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "RACING_API_USERNAME", "FLOWER_BASIC_AUTH",
            "RACING_API_RATE_PER_10S"} <= settings_vars


# ---------------------------------------------------------------- Dockerfile

def test_dockerfile_builds_a_non_root_worker_image(known_queues):
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    instructions = [line.split(None, 1) for line in lines if re.match(r"^[A-Z]+\s", line)]
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    assert ["WORKDIR", "/app"] in instructions
    run_pip = [i for i, (op, arg) in enumerate(instructions)
               if op == "RUN" and "pip install -r requirements.txt" in arg]
    users = [(i, arg) for i, (op, arg) in enumerate(instructions) if op == "USER"]
    assert run_pip and users, "the image must install requirements.txt and switch user"
    last_user = users[-1][1].strip()
    assert last_user not in ("root", "0", "0:0") and users[-1][0] > run_pip[0]
    cmd = [arg for op, arg in instructions if op == "CMD"]
    assert cmd, "the image needs a default command"
    argv = yaml.safe_load(cmd[-1])  # exec form: a JSON list
    if argv[:2] == ["sh", "-c"]:
        argv = shlex.split(argv[2])
        assert argv[0] == "exec", "sh -c must exec celery, or SIGTERM stops at the shell"
        argv = argv[1:]
    assert _is_celery(argv) and "worker" in argv
    assert _option(argv, "--loglevel", "-l") == "${LOG_LEVEL:-INFO}"
    assert _queues(argv) and _queues(argv) <= known_queues


def _requirement_names(path) -> set[str]:
    """Package names a requirements file pins itself (not those of a file it includes)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower())
    return names


def test_the_production_image_installs_no_test_tool():
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip()]
    installs = [line for line in lines if "pip install" in line and not line.startswith("#")]
    assert installs == ["RUN pip install -r requirements.txt"], "the image installs the runtime set only"
    runtime, dev = _requirement_names(REPO / "requirements.txt"), _requirement_names(REPO / "requirements-dev.txt")
    assert "-r requirements.txt" in (REPO / "requirements-dev.txt").read_text()
    assert {"pytest", "responses", "hypothesis", "ruff", "mypy"} <= dev
    assert not runtime & dev, f"test or lint tools in requirements.txt: {sorted(runtime & dev)}"
    assert {"celery", "sqlalchemy", "psycopg2-binary", "alembic", "flower", "redis", "requests"} <= runtime


def test_dockerignore_keeps_local_state_and_secrets_out():
    patterns = {line.strip().rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for needed in (".venv", "var", "logs", ".git", "__pycache__", ".env"):
        assert needed in patterns, f".dockerignore must exclude {needed}"


# ---------------------------------------------------------------- docker-compose.yml

REQUIRED_SERVICES = {"redis", "postgres", "migrate", "worker-live", "worker", "beat", "flower"}
LONG_RUNNING = {"redis", "postgres", "worker-live", "worker", "beat", "flower"}


def test_compose_has_every_service(compose):
    assert REQUIRED_SERVICES <= set(compose["services"])


def test_compose_backing_services_are_healthchecked_and_persistent(compose):
    services = compose["services"]
    redis, postgres = services["redis"], services["postgres"]
    assert redis["image"].startswith("redis:7")
    assert "redis-cli ping" in " ".join(_argv(redis["healthcheck"]["test"]))
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(_argv(postgres["healthcheck"]["test"]))
    mounts = {v.split(":")[1]: v.split(":")[0] for v in postgres["volumes"]}
    volume = mounts.get("/var/lib/postgresql/data")
    assert volume in (compose.get("volumes") or {}), "postgres data must live in a named volume"
    env = postgres["environment"]
    for name in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert re.fullmatch(rf"\$\{{{name}:-[^}}]+\}}", str(env[name])), f"{name}: from the environment, with a default"


def test_compose_migrate_is_one_shot_and_gates_the_app(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert _argv(migrate["command"]) == ["alembic", "upgrade", "head"]
    assert migrate["restart"] == "no"  # the string "no", not YAML's false
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("worker-live", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"] == {"condition": "service_completed_successfully"}, name
        assert deps["redis"]["condition"] == deps["postgres"]["condition"] == "service_healthy", name
    assert services["flower"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_restart_policies(compose):
    for name in LONG_RUNNING:
        assert compose["services"][name]["restart"] == "unless-stopped", name


def test_compose_workers_consume_the_right_queues_and_are_healthchecked(compose, known_queues):
    services = compose["services"]
    expected = {"worker-live": {"live"}, "worker": {"historical", "stats"}}
    for name, queues in expected.items():
        argv = _argv(services[name]["command"])
        assert _is_celery(argv) and _queues(argv) == queues, name
        node = _option(argv, "-n", "--hostname")
        assert node and node.endswith("@%h"), f"{name}: name the node (Flower, heartbeats)"
        # the worker's own heartbeat file, not a broker round trip (tests/ops/test_health.py)
        assert _argv(services[name]["healthcheck"]["test"]) == [
            "CMD", "python", "-m", "darkhorses", "health", "--worker"], name
    assert _option(_argv(services["worker-live"]["command"]), "-c", "--concurrency") is not None
    consumed = set()
    for service in services.values():
        consumed |= _queues(_argv(service.get("command", []))) or set()
    assert consumed == known_queues, "every queue needs a consumer, and only known queues"


def test_compose_beat_and_flower(compose):
    services = compose["services"]
    beat = _argv(services["beat"]["command"])
    assert _argv(services["beat"]["healthcheck"]["test"])[-2:] == ["health", "--beat"]
    assert _is_celery(beat) and beat[3] == "beat" and _option(beat, "-s", "--schedule") == "/tmp/celerybeat-schedule"
    flower = services["flower"]
    argv = _argv(flower["command"])
    assert _is_celery(argv) and argv[3] == "flower" and _option(argv, "--port") == "5555"
    assert _option(argv, "--address") == "0.0.0.0", "inside the container Flower must listen beyond loopback"
    assert any(str(p).split(":")[-1].split("/")[0] == "5555" for p in flower["ports"])
    assert "FLOWER_BASIC_AUTH" in flower["environment"]


def test_compose_app_config_points_at_the_compose_services(compose, settings_vars):
    services = compose["services"]
    for name in ("migrate", "worker-live", "worker", "beat", "flower"):
        service = services[name]
        assert service["env_file"] == [{"path": ".env", "required": False}], name
        env = service["environment"]
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name
        unknown = set(env) - settings_vars - PLATFORM_VARS
        assert not unknown, f"{name} sets variables the app never reads: {unknown}"


def _run_compose(argv: list[str], cwd) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None


def test_compose_file_validates_with_compose_when_installed(tmp_path):
    source = COMPOSE.read_text()
    (tmp_path / "docker-compose.yml").write_text(source)
    v2 = shutil.which("docker") and _run_compose(["docker", "compose", "version"], tmp_path)
    if v2 and v2.returncode == 0:
        result = _run_compose(["docker", "compose", "-f", "docker-compose.yml", "config", "-q"], tmp_path)
        assert result and result.returncode == 0, result and result.stderr
        return
    v1 = shutil.which("docker-compose") and _run_compose(["docker-compose", "version", "--short"], tmp_path)
    if not (v1 and v1.returncode == 0):
        message = "no Compose implementation on PATH (.ci/run installs Debian's docker-compose)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message + "; the structural tests above still ran")
    # Compose 1.x predates the optional env_file form (`required: false`, Compose v2.24);
    # validate everything else with the short form and an empty .env.
    legacy = source.replace("    - path: .env\n      required: false\n", "    - .env\n")
    assert legacy != source
    (tmp_path / "docker-compose.yml").write_text(legacy)
    (tmp_path / ".env").write_text("")
    result = _run_compose(["docker-compose", "-f", "docker-compose.yml", "config", "-q"], tmp_path)
    assert result and result.returncode == 0, result and result.stderr


# ---------------------------------------------------------------- Procfile

def test_procfile_processes(procfile, known_queues):
    assert {"release", "worker", "beat", "web"} <= set(procfile)
    assert procfile["release"] == "alembic upgrade head"
    web = shlex.split(procfile["web"])
    assert _is_celery(web) and web[3] == "flower"
    assert _option(web, "--port") == "$PORT" and _option(web, "--address") == "0.0.0.0"
    beat = shlex.split(procfile["beat"])
    assert _is_celery(beat) and beat[3] == "beat"
    consumed = set()
    for name, command in procfile.items():
        argv = shlex.split(command)
        assert name == "release" or _is_celery(argv), f"{name}: expected `celery -A darkhorses ...`"
        queues = _queues(argv)
        if queues is not None:
            assert queues and queues <= known_queues, f"{name}: unknown queue in {queues}"
            consumed |= queues
    assert consumed == known_queues
    live_workers = [n for n, c in procfile.items() if (_queues(shlex.split(c)) or set()) & {"live"}]
    assert all(_queues(shlex.split(procfile[n])) == {"live"} for n in live_workers), \
        "the live queue gets a worker of its own (a backfill must never delay a poll)"


# ---------------------------------------------------------------- render.yaml

def _render_services(render) -> dict[str, dict]:
    return {s["name"]: s for s in render["services"]}


def _render_service(render, suffix: str) -> dict:
    matches = [s for name, s in _render_services(render).items() if name.endswith(suffix)]
    assert len(matches) == 1, f"expected one render service named *{suffix}"
    return matches[0]


def test_render_blueprint_services(render, known_queues):
    services = _render_services(render)
    live = _render_service(render, "worker-live")
    historical = _render_service(render, "-worker")
    beat = _render_service(render, "-beat")
    flower = _render_service(render, "-flower")
    assert live["type"] == historical["type"] == beat["type"] == "worker"
    assert flower["type"] == "web"
    assert _queues(shlex.split(live["startCommand"])) == {"live"}
    assert _queues(shlex.split(historical["startCommand"])) == {"historical", "stats"}
    assert live.get("numInstances", 1) == 1 and beat.get("numInstances", 1) == 1
    beat_argv = shlex.split(beat["startCommand"])
    assert _is_celery(beat_argv) and beat_argv[3] == "beat"
    web = shlex.split(flower["startCommand"])
    assert _is_celery(web) and web[3] == "flower" and _option(web, "--port") == "$PORT"
    assert _option(web, "--address") == "0.0.0.0"
    assert flower.get("healthCheckPath") == "/healthcheck"

    app = [s for s in services.values() if s["type"] in ("worker", "web")]
    consumed = set()
    for service in app:
        assert service["runtime"] == "python" and service["buildCommand"] == "pip install -r requirements.txt"
        argv = shlex.split(service["startCommand"])
        assert _is_celery(argv), service["name"]
        queues = _queues(argv)
        if queues is not None:
            assert queues and queues <= known_queues, service["name"]
            consumed |= queues
    assert consumed == known_queues
    migrating = [s["name"] for s in app if s.get("preDeployCommand")]
    assert len(migrating) == 1, "exactly one service runs the migrations (concurrent alembic runs race)"
    assert services[migrating[0]]["preDeployCommand"] == "alembic upgrade head"
    assert len({s.get("region") for s in services.values()} | {d.get("region") for d in render["databases"]}) == 1, \
        "one region, so everything talks over the private network"


def test_render_backing_services(render):
    keyvalue = [s for s in render["services"] if s["type"] in ("keyvalue", "redis")]
    assert len(keyvalue) == 1
    assert "ipAllowList" in keyvalue[0], "Render requires ipAllowList on Key Value"
    assert keyvalue[0].get("maxmemoryPolicy") == "noeviction", "a broker must never evict messages"
    assert len(render["databases"]) == 1 and render["databases"][0]["name"]


def _env_entries(render):
    for service in render["services"]:
        for entry in service.get("envVars", []):
            yield service["name"], entry
    for group in render.get("envVarGroups", []):
        for entry in group.get("envVars", []):
            yield f"group {group['name']}", entry


def test_render_env_has_no_literal_secrets_and_references_resolve(render, settings_vars):
    services = _render_services(render)
    databases = {d["name"] for d in render["databases"]}
    groups = {g["name"]: g for g in render.get("envVarGroups", [])}
    for owner, entry in _env_entries(render):
        if "fromGroup" in entry:
            assert entry["fromGroup"] in groups, f"{owner}: unknown group {entry['fromGroup']}"
            continue
        key = entry["key"]
        assert key in settings_vars or key in PLATFORM_VARS, f"{owner}: {key} is not a setting the app reads"
        sources = {"value", "sync", "fromDatabase", "fromService", "generateValue"} & set(entry)
        assert len(sources) == 1, f"{owner}: {key} needs exactly one source, has {sources}"
        if "value" in entry:
            assert not SECRET_NAME.search(key), f"{owner}: {key} is a secret; use sync: false or a reference"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", str(entry["value"])), f"{owner}: {key} embeds credentials"
        if "sync" in entry:
            assert entry["sync"] is False
            assert not owner.startswith("group "), "Render ignores sync: false inside an environment group"
        if "fromDatabase" in entry:
            assert entry["fromDatabase"]["name"] in databases, f"{owner}: {key}"
        if "fromService" in entry:
            assert not owner.startswith("group "), "an environment group cannot reference services"
            ref = entry["fromService"]
            target = services.get(ref["name"])
            assert target and target["type"] == ref["type"], f"{owner}: {key} references {ref}"
            if "envVarKey" in ref:
                assert any(e.get("key") == ref["envVarKey"] for e in target.get("envVars", [])), f"{owner}: {key}"


def test_render_services_get_what_their_process_needs(render):
    def keys(service):
        found = {e["key"] for e in service.get("envVars", []) if "key" in e}
        for entry in service.get("envVars", []):
            if "fromGroup" in entry:
                group = next(g for g in render["envVarGroups"] if g["name"] == entry["fromGroup"])
                found |= {e["key"] for e in group["envVars"]}
        return found

    for service in render["services"]:
        if service["type"] not in ("worker", "web"):
            continue
        have = keys(service)
        assert {"CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "PYTHON_VERSION"} <= have, service["name"]
        argv = shlex.split(service["startCommand"])
        if argv[3] in ("worker", "beat"):  # these refuse to start without credentials
            assert {"DATABASE_URL", "RACING_API_USERNAME", "RACING_API_PASSWORD"} <= have, service["name"]
        if argv[3] == "flower":
            assert "FLOWER_BASIC_AUTH" in have, service["name"]


def test_worker_and_beat_commands_honour_log_level(compose, procfile, render):
    commands = [_argv(s["command"]) for s in compose["services"].values() if "command" in s]
    commands += [shlex.split(c) for c in procfile.values()]
    commands += [shlex.split(s["startCommand"]) for s in render["services"] if "startCommand" in s]
    checked = 0
    for argv in commands:
        if _is_celery(argv) and argv[3] in ("worker", "beat"):
            assert _option(argv, "--loglevel", "-l") == "${LOG_LEVEL:-INFO}", " ".join(argv)
            checked += 1
    assert checked >= 9
