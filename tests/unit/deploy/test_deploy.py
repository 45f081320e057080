"""Structure of deploy/: the dashboard imports cleanly, the rules pass promtool, the compose file
and the Kubernetes manifests hang together (no Docker engine or cluster here: checked by
reading them)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings.api import parse_token_lines, token_digest
from tests.integration.ops.prometheus import ALERTS, as_probe, metric_names, require_tool

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DATASOURCE_UID = "portrait-prometheus"
ROWS = {"Throughput", "Freshness and latency", "Consumer lag", "Errors and dead letters",
        "Triggers and recall", "Experiments (docs/experiments.md)", "Redis",
        "Profiles and segments", "Workers"}  # fmt: skip


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "portrait.json").read_text())  # type: ignore[no-any-return]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("dashboard", DEPLOY / "grafana" / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dashboard_json_is_what_the_generator_writes() -> None:
    assert (
        _generator().render() == (DEPLOY / "grafana" / "dashboards" / "portrait.json").read_text()
    )


def test_dashboard_structure_imports_cleanly() -> None:
    board = _dashboard()
    assert board["uid"] == "portrait-overview" and board["title"]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert {p["title"] for p in panels if p["type"] == "row"} == ROWS
    cells: set[tuple[int, int]] = set()
    for p in panels:
        grid = p["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"} and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another"
                cells.add((x, y))
        if p["type"] == "row":
            continue
        assert p["type"] == "timeseries" and p["datasource"]["uid"] == DATASOURCE_UID
        assert p["targets"], f"panel {p['title']!r} has no query"
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for t in p["targets"]:
            assert t["datasource"]["uid"] == DATASOURCE_UID
            assert t["expr"].count("(") == t["expr"].count(")")
            assert metric_names(t["expr"]), f"{p['title']!r} reads no portrait metric"


def test_grafana_provisioning_names_the_dashboards_datasource() -> None:
    sources = _yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    (source,) = sources["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    providers = _yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "portrait.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    compose = _yaml(DEPLOY / "docker-compose.yml")
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_alert_rules_pass_promtool() -> None:
    promtool = require_tool("promtool")
    done = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    config = DEPLOY / "prometheus" / "prometheus.yml"
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_alerts_have_runbooks_in_operations_md() -> None:
    operations = (DEPLOY.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    required = {"PortraitConsumerLagGrowing", "PortraitDeadLetterRate", "PortraitWorkerDown",
                "PortraitTriggersOverdue", "PortraitRedisErrors",
                "PortraitFreshnessP99High"}  # fmt: skip
    rules = [r for g in _yaml(ALERTS)["groups"] for r in g["rules"]]
    assert required <= {r["alert"] for r in rules}
    for rule in rules:
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert f"### {rule['alert']}" in operations and anchor == rule["alert"].lower()
        assert rule["labels"]["severity"] in {"warning", "critical"}


@pytest.mark.parametrize(
    ("expr", "probe"),
    [
        ("sum(x) > 5", "sum(x) > bool 5"),
        ('up{job="w"} == 0', 'up{job="w"} == bool 0'),
        ('a{r!="x",s=~"y"} >= 1 and b < 2', 'a{r!="x",s=~"y"} >= bool 1 and b < bool 2'),
        ("a > bool 1", "a > bool 1"),
    ],
)
def test_alert_probe_makes_comparisons_bool(expr: str, probe: str) -> None:
    assert as_probe(expr) == probe


def test_compose_runs_every_part() -> None:
    compose = _yaml(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert {"kafka", "redis", "worker-1", "worker-2", "simulator", "prometheus", "grafana"} <= set(
        services
    )
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "--appendonly" in services["redis"]["command"]
    assert (
        services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1]
        == "yes"
    )
    for name in ("worker-1", "worker-2", "simulator"):
        svc = services[name]
        assert svc["build"]["dockerfile"] == "Dockerfile"
        assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert set(svc["depends_on"]) <= set(services)
    for name in ("worker-1", "worker-2"):
        assert services[name]["command"] == ["worker"]
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"compose mounts missing {source}"
            else:
                assert source in compose["volumes"], f"undeclared volume {source}"
    scrape = _yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    targets = {t for job in scrape for c in job["static_configs"] for t in c["targets"]}
    assert {"worker-1:9464", "worker-2:9464"} <= targets
    assert {job["job_name"] for job in scrape} >= {"portrait-worker"}


def _manifests() -> dict[str, dict[str, Any]]:
    kustomization = _yaml(DEPLOY / "k8s" / "kustomization.yaml")
    docs = [_yaml(DEPLOY / "k8s" / name) for name in kustomization["resources"]]
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc) and doc["metadata"]["name"]
    kinds = Counter(doc["kind"] for doc in docs)
    assert kinds == Counter({"Namespace": 1, "ConfigMap": 1, "Secret": 2, "Deployment": 2,
                             "Service": 2, "HorizontalPodAutoscaler": 1,
                             "PodDisruptionBudget": 1, "ServiceMonitor": 2,
                             "PrometheusRule": 1})  # fmt: skip
    listed = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == set(kustomization["resources"]), "a manifest is not in kustomization.yaml"
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in docs}


def _part(app: str) -> dict[str, dict[str, Any]]:
    """The manifests of one part (``portrait-worker``, ``portrait-api``) by kind, with the
    shared ones (namespace, config map, alert rules)."""
    out: dict[str, dict[str, Any]] = {}
    for doc in _manifests().values():
        name = doc["metadata"].get("labels", {}).get("app.kubernetes.io/name")
        if name in (app, None) or doc["kind"] in ("Namespace", "ConfigMap", "PrometheusRule"):
            out.setdefault(doc["kind"], doc)
    return out


def test_kubernetes_manifests_hang_together() -> None:
    m = _part("portrait-worker")
    deployment, service = m["Deployment"], m["Service"]
    assert deployment["apiVersion"] == "apps/v1"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):  # fmt: skip
        get = container[probe]["httpGet"]
        assert get["port"] in ports and get["path"] == path
    (svc_port,) = service["spec"]["ports"]
    assert svc_port["targetPort"] in ports
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PORTRAIT_METRICS_PORT"] == str(ports[svc_port["targetPort"]])
    (secret_ref,) = container["envFrom"]
    assert secret_ref["secretRef"]["name"] == m["Secret"]["metadata"]["name"]
    assert {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"} <= set(m["Secret"]["stringData"])
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
    mount = next(v for v in container["volumeMounts"] if v["name"] == "config")
    assert env["PORTRAIT_CONFIG"] == f"{mount['mountPath']}/portrait.yaml"
    config = yaml.safe_load(m["ConfigMap"]["data"]["portrait.yaml"])
    hpa = m["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["maxReplicas"] <= config["topics"]["partitions"]
    assert {metric["type"] for metric in hpa["spec"]["metrics"]} == {"Resource", "External"}
    pdb = m["PodDisruptionBudget"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    monitor = m["ServiceMonitor"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == svc_port["name"]
    assert m["PrometheusRule"]["spec"] == _yaml(ALERTS), (
        "prometheusrule.yaml differs from alerts.yml"
    )


def test_the_api_manifests_hang_together() -> None:
    m = _part("portrait-api")
    deployment, service, monitor = m["Deployment"], m["Service"], m["ServiceMonitor"]
    assert deployment["metadata"]["name"] == "portrait-api"
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["args"][0] == "api"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PORTRAIT_API_PORT"] == str(ports["http"])
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    (svc_port,) = service["spec"]["ports"]
    assert svc_port["targetPort"] == "http" and monitor["spec"]["endpoints"][0]["port"] == "http"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    secret = m["Secret"]
    assert volumes["tokens"]["secret"]["secretName"] == secret["metadata"]["name"]
    mount = next(v for v in container["volumeMounts"] if v["name"] == "tokens")
    (key,) = secret["stringData"]
    assert env["PORTRAIT_API_TOKENS_FILE"] == f"{mount['mountPath']}/{key}"
    # the shipped tokens file parses as the API reads it (a hashed line, no token in clear)
    (token,) = parse_token_lines(secret["stringData"][key], "api-secret.yaml")
    assert token.scope == "admin" and token.digest == token_digest("change-me")
    assert container["envFrom"][0]["secretRef"]["name"] == "portrait-connections"
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["spec"]["volumes"])


def test_compose_runs_the_api_and_prometheus_scrapes_it() -> None:
    compose = _yaml(DEPLOY / "docker-compose.yml")
    api = compose["services"]["api"]
    assert api["command"][0] == "api" and "8080:8080" in api["ports"]
    assert api["environment"]["PORTRAIT_API_PORT"] == "8080"
    assert api["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "8080/healthz" in " ".join(api["healthcheck"]["test"])
    scrape = _yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert jobs["portrait-api"]["static_configs"][0]["targets"] == ["api:8080"]
