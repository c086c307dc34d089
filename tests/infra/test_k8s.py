"""Static checks of the Kubernetes manifests (infra/k8s): every object valid against the Kubernetes schemas
(kubernetes-validate, strict: an unknown field is an error), kustomization lists every file, each stage is a
real stage with a stable worker slot and probes the process serves, and the settings are ones we read."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api.app import create_app
from api.config import ApiSettings
from processors.runtime.pipeline import STAGES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported by the main clouds; pod-index labels are GA
WORKER_PROBES = {"/healthz", "/readyz"}  # processors/runtime/metrics.py ProbeServer


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
OBJECTS = [(p, doc) for p in MANIFESTS for doc in _documents(p)]


def _workloads(kind: str | None = None) -> list[dict[str, Any]]:
    return [d for _, d in OBJECTS if d["kind"] in {"Deployment", "StatefulSet"} and kind in (None, d["kind"])]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


@pytest.mark.parametrize(
    ("path", "document"), OBJECTS, ids=[f"{p.name}:{d['kind']}:{d['metadata']['name']}" for p, d in OBJECTS]
)
def test_every_object_is_valid_against_the_kubernetes_schemas(path: Path, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_what_kubernetes_would() -> None:
    broken = copy.deepcopy(_workloads("StatefulSet")[0])
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    unknown = copy.deepcopy(_workloads("Deployment")[0])
    unknown["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_top_level_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"}
    images = {image["name"] for image in kustomization["images"]}
    assert {_container(w)["image"] for w in _workloads()} | {
        c["image"] for _, d in OBJECTS if d["kind"] == "Job" for c in d["spec"]["template"]["spec"]["containers"]
    } <= images


def test_each_stage_runs_a_real_stage_in_a_stable_slot_with_probes_it_serves() -> None:
    stages = _workloads("StatefulSet")
    assert {w["metadata"]["name"] for w in stages} >= {"orderpath", "orderbook", "account", "venue"}
    services = {d["metadata"]["name"]: d for _, d in OBJECTS if d["kind"] == "Service"}
    for workload in stages:
        name, container = workload["metadata"]["name"], _container(workload)
        args = container["args"]
        assert args[:2] == ["run", name] and name in STAGES, name
        assert args[args.index("--engine") + 1] == "kafka", name
        assert args[args.index("--worker") + 1] == "$(SQ_WORKER)", name
        (slot,) = [e for e in container["env"] if e["name"] == "SQ_WORKER"]
        assert slot["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
        assert workload["spec"]["replicas"] >= 2, f"{name}: a second worker takes over or shares the partitions"
        assert services[workload["spec"]["serviceName"]]["spec"]["clusterIP"] == "None", name
        _assert_probes(container, WORKER_PROBES, "metrics", 9400)


def test_the_sink_and_the_api_probe_what_they_serve() -> None:
    deployments = {w["metadata"]["name"]: w for w in _workloads("Deployment")}
    sink, api = _container(deployments["sink"]), _container(deployments["api"])
    assert sink["args"] == ["sink"] and deployments["sink"]["spec"]["replicas"] == 1
    _assert_probes(sink, WORKER_PROBES, "metrics", 9400)
    routes = set(create_app(ApiSettings.from_env()).openapi()["paths"])
    assert api["args"] == ["api"]
    _assert_probes(api, routes, "http", 8000)
    (service,) = [d for _, d in OBJECTS if d["kind"] == "Service" and d["metadata"]["name"] == "api"]
    assert service["spec"]["selector"] == deployments["api"]["spec"]["selector"]["matchLabels"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def _assert_probes(container: dict[str, Any], served: set[str], port_name: str, port: int) -> None:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[port_name] == port
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] in served and get["port"] == port_name, (probe, get)


def test_every_pod_runs_unprivileged_on_the_shared_settings() -> None:
    pods = [w["spec"]["template"]["spec"] for w in _workloads()]
    pods += [d["spec"]["template"]["spec"] for _, d in OBJECTS if d["kind"] == "Job"]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {"shrivenquant"} and len(container["envFrom"]) == 2


def test_the_configmap_and_the_secret_hold_settings_we_read() -> None:
    read = (ROOT / "settings" / "__init__.py").read_text() + (ROOT / "api" / "config.py").read_text()
    (config,) = [d for _, d in OBJECTS if d["kind"] == "ConfigMap"]
    (secret,) = [d for _, d in OBJECTS if d["kind"] == "Secret"]
    for name in itertools.chain(config["data"], secret["stringData"]):
        assert f"``{name}``" in read or f'"{name}"' in read, f"nothing reads {name}"
    assert config["data"]["SQ_METRICS_HOST"] == "0.0.0.0"
