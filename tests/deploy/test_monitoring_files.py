"""deploy/prometheus and deploy/grafana agree with the exporter and the compose file."""
import json
import re

import pytest
import yaml

from darkhorses.core.settings import get_settings
from darkhorses.ops.metrics import ServiceCollector
from tests.support import REPO

DEPLOY = REPO / "deploy"
NAME = re.compile(r"\bdarkhorses_[a-z_]+\b")


@pytest.fixture
def served(sqlite_url, redis_url) -> set[str]:
    """Every metric name the exporter serves (counters with their `_total` samples)."""
    names = set()
    for family in ServiceCollector(get_settings()).collect():
        names |= {family.name, f"{family.name}_total"} if family.type == "counter" else {family.name}
    return names


def test_every_alert_rule_reads_a_metric_the_exporter_serves(served):
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    alerts = {rule["alert"] for rule in rules}
    # what the issue asks to be alerted on: loop down, missed races, 429s, stale statistics, backlog
    assert {"DarkHorsesLiveLoopNotRunning", "DarkHorsesRacesMissed", "DarkHorsesRateLimited",
            "DarkHorsesStatisticsStale", "DarkHorsesLiveQueueBacklog"} <= alerts
    for rule in rules:
        used = set(NAME.findall(rule["expr"]))
        assert used and used <= served, (rule["alert"], used - served)
        assert rule["annotations"]["summary"]


def test_the_dashboard_reads_only_served_metrics(served):
    dashboard = json.loads((DEPLOY / "grafana" / "darkhorses-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used <= served, used - served
    # the service's main numbers each have a panel
    assert {"darkhorses_live_last_cycle_age_seconds", "darkhorses_races_missed_today", "darkhorses_queue_length",
            "darkhorses_api_requests_total", "darkhorses_statistics_age_seconds",
            "darkhorses_backfill_dates_remaining"} <= used
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_compose_runs_the_exporter_and_prometheus_scrapes_it():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    metrics = services["metrics"]
    assert metrics["command"][:4] == ["python", "-m", "darkhorses", "metrics"]
    port = metrics["command"][metrics["command"].index("--port") + 1]
    assert "profiles" not in metrics, "the exporter runs with the service"
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["darkhorses"]["static_configs"][0]["targets"] == [f"metrics:{port}"]
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    inside = "/etc/prometheus/"  # the image reads its config there; rule files beside it
    mounted = {volume.split(":")[1] for volume in services["prometheus"]["volumes"]}
    assert {inside + name for name in ["prometheus.yml", *config["rule_files"]]} <= mounted
