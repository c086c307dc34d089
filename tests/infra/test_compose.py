"""Static checks of the Docker deployment: docker-compose.yml, infra/Dockerfile and .dockerignore.

No Docker engine is needed: the files are parsed (PyYAML resolves the ``<<`` merge keys as Compose does) and
checked for what ``docker compose up`` relies on: a single-node KRaft broker whose internal topics fit one
broker, dependency conditions that can be met, processors on the Kafka engine, and an image that runs ``sq``
as an unprivileged user.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from processors.runtime.pipeline import STAGES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"

PROCESSORS = set(STAGES)
DEPLOYED_PROCESSORS = {"orderpath", "orderpath-standby", "orderbook"}
JOBS = {"topics", "migrate"}
LONG_RUNNING = DEPLOYED_PROCESSORS | {"sink", "api", "ticker"}
OBSERVABILITY = {"prometheus", "grafana"}
INFRA = {"kafka", "postgres"}


# ---- helpers ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _env(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _published(service: dict[str, Any]) -> dict[int, int]:
    """Container port → host port, from short ("[ip:]host:container[/proto]") or long port syntax."""
    ports: dict[int, int] = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            if port.get("published") is not None:
                ports[int(port["target"])] = int(port["published"])
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) >= 2:
            ports[int(parts[-1])] = int(parts[-2])
    return ports


def _has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable") and check["test"] != ["NONE"]


def _conditions(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # short syntax: started, not healthy
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def _listeners(value: str) -> dict[str, str]:
    """ "NAME://host:port,…" → {NAME: "host:port"}."""
    return dict(item.split("://", 1) for item in value.split(","))


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), one list per stage."""
    stages: list[list[tuple[str, str]]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stages.append([])
        assert stages, f"instruction before the first FROM: {keyword}"
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def _instruction(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for name, arguments in stage if name == keyword]


# ---- compose: the broker and the database -------------------------------------------------------------------


def test_compose_declares_every_service(compose: dict[str, Any], services: dict[str, Any]) -> None:
    assert "version" not in compose, "the Compose spec has no version key"
    assert set(services) >= INFRA | JOBS | LONG_RUNNING | OBSERVABILITY


def test_kafka_is_a_single_node_kraft_broker(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    env = _env(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not [name for name in env if "ZOOKEEPER" in name]
    assert not [name for name in services if "zookeeper" in name]
    assert env["CLUSTER_ID"], "the image refuses to format KRaft storage without CLUSTER_ID"
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"

    listeners = _listeners(env["KAFKA_LISTENERS"])
    (controller,) = env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == (
        f"{env['KAFKA_NODE_ID']}@kafka:{listeners[controller].rsplit(':', 1)[1]}"
    )
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols), "every listener needs a security protocol"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners


@pytest.mark.parametrize(
    "setting",
    [
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR",
    ],
)
def test_kafka_internal_topics_fit_one_broker(services: dict[str, Any], setting: str) -> None:
    assert str(_env(services["kafka"])[setting]) == "1"


def test_kafka_advertises_an_in_network_and_a_host_listener(services: dict[str, Any]) -> None:
    env = _env(services["kafka"])
    advertised = set(_listeners(env["KAFKA_ADVERTISED_LISTENERS"]).values())
    assert {"kafka:19092", "localhost:9092"} <= advertised
    assert _published(services["kafka"]).get(9092) == 9092
    for name in JOBS | LONG_RUNNING:
        assert _env(services[name])["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092", name


def test_postgres_and_the_database_url_agree(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    env = _env(postgres)
    assert postgres["image"].startswith("postgres:")
    assert env["POSTGRES_USER"] == env["POSTGRES_DB"] == "shrivenquant"
    assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-shrivenquant}"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    for name in JOBS | LONG_RUNNING:
        url = urlsplit(_env(services[name])["DATABASE_URL"])
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432), name
        assert (url.username, url.password) == (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]), name
        assert url.path == f"/{env['POSTGRES_DB']}", name


@pytest.mark.parametrize(("service", "port"), [("kafka", 9092), ("postgres", 5432), ("api", 8000)])
def test_ports_are_published(services: dict[str, Any], service: str, port: int) -> None:
    assert _published(services[service]).get(port) == port


# ---- compose: the project's services ------------------------------------------------------------------------


def test_every_dependency_condition_can_be_met(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency, condition in _conditions(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            target = services[dependency]
            if condition == "service_healthy":
                assert _has_healthcheck(target), f"{name} waits for {dependency} to be healthy: no healthcheck"
            elif condition == "service_completed_successfully":
                assert target.get("restart", "no") in {"no", "on-failure"}, f"{dependency} is not one-shot"


def test_setup_jobs_run_once_after_their_backend(services: dict[str, Any]) -> None:
    expected = {"topics": (["topics", "create"], "kafka"), "migrate": (["db", "migrate"], "postgres")}
    for name, (command, backend) in expected.items():
        job = services[name]
        assert _command(job) == command
        assert job.get("restart", "no") == "no"
        assert _conditions(job).get(backend) == "service_healthy"


def test_long_running_services_are_supervised(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        service = services[name]
        conditions = _conditions(service)
        assert service.get("restart") in {"always", "unless-stopped"}, name
        assert _has_healthcheck(service) or "service_healthy" in conditions.values(), name
        assert conditions.get("topics") == conditions.get("migrate") == "service_completed_successfully", name
        assert "container_name" not in service, f"{name}: a fixed container name prevents --scale"


def test_processors_run_on_the_kafka_engine(services: dict[str, Any]) -> None:
    running = {}
    for name, service in services.items():
        command = _command(service)
        if command[:1] == ["run"]:
            processors = list(itertools.takewhile(lambda word: not word.startswith("-"), command[1:]))
            assert processors and set(processors) <= PROCESSORS, f"{name} runs unknown processors: {processors}"
            options = " ".join(command[1 + len(processors) :]).replace("=", " ").split()
            assert "--engine" in options and options[options.index("--engine") + 1] == "kafka", name
            running[name] = processors
    assert set(running) >= DEPLOYED_PROCESSORS
    assert all(running[name] == [name.removesuffix("-standby")] for name in DEPLOYED_PROCESSORS)


def test_project_services_share_one_image_and_clean_kafka_settings(services: dict[str, Any]) -> None:
    project = {name: services[name] for name in JOBS | LONG_RUNNING}
    assert len({service["image"] for service in project.values()}) == 1
    for name, service in project.items():
        build = service["build"]
        assert build["context"] == "." and (ROOT / build["dockerfile"]) == DOCKERFILE, name
        # sq maps every other KAFKA_* variable to a librdkafka property: the broker's settings must not leak.
        assert [key for key in _env(service) if key.startswith("KAFKA_")] == ["KAFKA_BOOTSTRAP_SERVERS"], name


def test_api_healthcheck_probes_healthz(services: dict[str, Any]) -> None:
    api = services["api"]
    assert _command(api) == ["api"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(api["healthcheck"]["test"])


def test_the_api_is_given_the_variables_it_reads(services: dict[str, Any]) -> None:
    api_config = (ROOT / "api" / "config.py").read_text()
    for name in _env(services["api"]):
        if name.startswith("SQ_API_"):
            assert f"``{name}``" in api_config or f'"{name}"' in api_config, f"the API reads no {name}"


def test_processors_and_the_sink_serve_probes_that_prometheus_scrapes(services: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    for name in DEPLOYED_PROCESSORS | {"sink"}:
        env = _env(services[name])
        assert env["SQ_METRICS_HOST"] == "0.0.0.0", f"{name}: probes must answer outside the container"
        port = env["SQ_METRICS_PORT"]
        assert f"{name}:{port}" in targets, name
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(services[name]["healthcheck"]["test"]), name
    assert "api:8000" in targets
    assert "SQ_METRICS_PORT" not in _env(services["api"]), "the API serves /metrics on its own port"


def test_prometheus_and_grafana_mount_files_that_exist(services: dict[str, Any]) -> None:
    mounted = {}
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
                mounted[target] = source
    assert mounted["/etc/prometheus/prometheus.yml"] == "./infra/prometheus/prometheus.yml"
    provider = yaml.safe_load((ROOT / "infra/grafana/provisioning/dashboards/shrivenquant.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert any(target.startswith(folder + "/") and source.endswith(".json") for target, source in mounted.items())
    datasource = yaml.safe_load((ROOT / "infra/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


# ---- the image ------------------------------------------------------------------------------------------------


def test_dockerfile_builds_in_stages_on_python_311() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    names = set()
    for stage in stages:
        base, *alias = stage[0][1].split()
        assert base in names or base.startswith("python:3.11"), base
        names.update(alias[-1:])


def test_runtime_stage_runs_sq_unprivileged_with_a_healthcheck() -> None:
    runtime = _dockerfile_stages()[-1]
    users = _instruction(runtime, "USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert json.loads(_instruction(runtime, "ENTRYPOINT")[-1]) == ["sq"]
    (healthcheck,) = _instruction(runtime, "HEALTHCHECK")
    assert "/healthz" in healthcheck and "SQ_API_PORT" in healthcheck
    assert any(copy.startswith("--from=") for copy in _instruction(runtime, "COPY"))
    runs = " ".join(_instruction(runtime, "RUN"))
    assert not [tool for tool in ("build-essential", "gcc", "pip install") if tool in runs], runs


def test_dockerignore_keeps_local_state_out_but_not_the_build_inputs() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv", ".sq"} <= set(patterns)
    for needed in ("pyproject.toml", "requirements.lock", "README.md", "sq/cli.py", "infra/kafka/pom.xml"):
        parts = needed.split("/")
        paths = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]  # the file and its folders
        assert not [
            (path, pattern)
            for path in paths
            for pattern in patterns
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[-1], pattern.removeprefix("**/"))
        ], needed
