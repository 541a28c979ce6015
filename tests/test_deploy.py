"""deploy/ is not run here (no engine, no network): check it parses and has not drifted from
the code: settings names, metric names, ports, the embedded Prometheus config, the health check."""

from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics_core import Metric

from scheduler.metrics import Metrics
from scheduler.settings import defaults
from tests.support import REPO

DEPLOY = REPO / "deploy"
MANIFEST = list(yaml.safe_load_all((DEPLOY / "scheduler.kube.yaml").read_text()))
PROMETHEUS = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
ALERTS = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
DASHBOARD = json.loads((DEPLOY / "grafana-dashboard.json").read_text())


def kind(name: str) -> list[dict[str, Any]]:
    return [document for document in MANIFEST if document and document["kind"] == name]


def schedulers() -> list[dict[str, str]]:
    """Each scheduler container's literal env values, by name."""
    [pod] = kind("Pod")
    containers = [c for c in pod["spec"]["containers"] if c["image"] == "localhost/scheduler:latest"]
    return [{e["name"]: e.get("value", "") for e in c["env"]} for c in containers]


def setting_names() -> set[str]:
    names = {"SCHEDULER_DATA_DIR", "SCHEDULER_SETTINGS_FILE"}
    for section, keys in defaults().items():
        if isinstance(keys, dict):
            names |= {f"SCHEDULER_{section}__{key}".upper() for key in keys}
    return names


def metric_names() -> set[str]:
    """Names as exposed: counters with _total, histograms with _bucket/_count/_sum."""
    suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_count", "_sum", "_created"]}
    families: list[Metric] = list(Metrics().registry.collect())
    return {f.name + s for f in families for s in suffixes.get(f.type, [""])}


def expressions() -> list[str]:
    rules = [rule["expr"] for group in ALERTS["groups"] for rule in group["rules"]]
    return rules + [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]


def test_every_file_parses() -> None:
    assert {"Secret", "ConfigMap", "Pod"} <= {d["kind"] for d in MANIFEST if d}
    assert PROMETHEUS["rule_files"] == ["alerts.yml"]
    assert len(schedulers()) == 2
    assert DASHBOARD["panels"]


def test_every_scheduler_variable_is_a_real_setting() -> None:
    known = setting_names()
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            used = set(re.findall(r"SCHEDULER_[A-Z0-9_]+", path.read_text()))
            assert used <= known, f"{path.relative_to(REPO)}: not settings: {sorted(used - known)}"


def test_the_schedulers_get_distinct_ports_and_their_settings_from_the_environment() -> None:
    first, second = schedulers()
    for env in (first, second):
        urls = json.loads(env["SCHEDULER_REDIS__URLS"])
        assert len(urls) == 3 and all(url.startswith("redis://") for url in urls)
        assert env["SCHEDULER_LOG__FORMAT"] == "json"
        assert "SCHEDULER_DATABASE__URL" in env and "SCHEDULER_DATA_DIR" in env
    for port in ("SCHEDULER_GRPC__PORT", "SCHEDULER_METRICS__PORT"):
        assert first[port] != second[port]


def test_the_database_password_comes_from_the_secret() -> None:
    [secret] = kind("Secret")
    url = base64.b64decode(secret["data"]["database-url"]).decode()
    assert url.startswith("postgresql://")
    assert base64.b64decode(secret["data"]["postgres-password"]).decode() in url
    [pod] = kind("Pod")
    for container in pod["spec"]["containers"]:
        for env in container.get("env", []):
            assert "PASSWORD" not in env["name"] or "valueFrom" in env


def test_every_metric_in_rules_and_dashboard_exists() -> None:
    known = metric_names()
    assert {"scheduler_downloads_total", "scheduler_sync_seconds_count", "scheduler_videos"} <= known
    for expr in expressions():  # `up` and `process_*` ones name none
        used = set(re.findall(r"scheduler_[a-z_]+", expr))
        assert used <= known, f"{expr}: unknown {sorted(used - known)}"


def test_prometheus_scrapes_each_replica_metrics_port() -> None:
    [job] = PROMETHEUS["scrape_configs"]
    targets = [t for config in job["static_configs"] for t in config["targets"]]
    ports = sorted(int(target.rsplit(":", 1)[1]) for target in targets)
    assert ports == sorted(int(env["SCHEDULER_METRICS__PORT"]) for env in schedulers())


def test_the_config_map_holds_the_same_prometheus_config_and_rules() -> None:
    [config_map] = kind("ConfigMap")
    assert yaml.safe_load(config_map["data"]["prometheus.yml"]) == PROMETHEUS
    assert yaml.safe_load(config_map["data"]["alerts.yml"]) == ALERTS


def quadlet(path: Path) -> dict[str, list[str]]:
    """Key -> values (a key may repeat, as PublishPort does)."""
    entries: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            entries.setdefault(key, []).append(value)
    return entries


def test_the_quadlet_health_command_is_the_containerfile_one() -> None:
    containerfile = (REPO / "Containerfile").read_text().replace("\\\n", " ")
    healthcheck = re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", containerfile, flags=re.MULTILINE)
    assert healthcheck
    unit = quadlet(DEPLOY / "quadlet" / "scheduler.container")
    assert shlex.split(unit["HealthCmd"][0]) == json.loads(healthcheck[1])
    assert unit["PublishPort"] == [
        f"{defaults()['grpc']['port']}:7777",
        f"{defaults()['metrics']['port']}:9100",
    ]
    assert unit["Volume"][0].startswith("scheduler-data.volume:")
    assert (DEPLOY / "quadlet" / "scheduler-data.volume").is_file()
