"""The local broker and database: fail fast with a clear message, report status for scripts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.kafka_broker import LocalBroker, format_storage
from infra.postgres_server import LocalPostgres
from infra.process import InfraError, require_command, require_free_disk
from settings import Settings


@pytest.fixture
def squatted_port() -> Iterator[int]:
    """A port held by a program that speaks neither Kafka nor PostgreSQL."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_broker_on_a_taken_port_fails_fast_and_names_the_port(tmp_path: Path, squatted_port: int) -> None:
    with pytest.raises(InfraError, match=rf"port {squatted_port} is taken.*SQ_KAFKA_PORT"):
        LocalBroker(tmp_path, squatted_port).start()


def test_database_on_a_taken_port_fails_fast_and_names_the_port(tmp_path: Path, squatted_port: int) -> None:
    with pytest.raises(InfraError, match=rf"port {squatted_port} is taken.*SQ_POSTGRES_PORT"):
        LocalPostgres(tmp_path, squatted_port).start()


def test_full_disk_is_refused_before_starting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("infra.process.MIN_FREE_DISK_BYTES", 1 << 62)
    with pytest.raises(InfraError, match="free"):
        require_free_disk(tmp_path)


def test_stop_leaves_alone_what_it_did_not_start(tmp_path: Path) -> None:
    assert LocalBroker(tmp_path, 1).stop() is False
    assert LocalPostgres(tmp_path, 1).stop() is False


def test_settings_pass_security_options_through_to_librdkafka() -> None:
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9093",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "DATABASE_URL": "postgresql://u:p@db/x",
        }
    )
    assert settings.kafka_config() == {
        "bootstrap.servers": "broker-1:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
    }
    assert settings.database_url == "postgresql://u:p@db/x"


@pytest.mark.integration
def test_status_json_tells_scripts_where_both_services_are(infra_settings: Settings) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": infra_settings.bootstrap_servers,
        "DATABASE_URL": infra_settings.database_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "sq.cli", "infra", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["kafka"] == {"bootstrap_servers": infra_settings.bootstrap_servers, "running": True, "managed": False}
    assert status["postgres"]["url"] == infra_settings.database_url and status["postgres"]["running"] is True


@pytest.mark.integration
def test_up_is_idempotent_when_already_running(infra_settings: Settings) -> None:
    from infra import stack

    reports = stack.up(infra_settings)
    assert [r.running for r in reports] == [True, True]
    assert not any(r.started for r in reports)


@pytest.mark.integration
def test_a_cluster_id_beginning_with_a_dash_formats(infra_settings: Settings, tmp_path: Path) -> None:
    """One random id in 64 begins with "-" (base64url): the storage tool must not take it for an option."""
    if infra_settings.external_kafka:
        pytest.skip("needs the local broker's jars")
    libs = LocalBroker(infra_settings.home, infra_settings.kafka_port).libs
    properties = tmp_path / "server.properties"
    (tmp_path / "log4j2.properties").write_text("")
    properties.write_text(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:1\n"
        "listeners=PLAINTEXT://127.0.0.1:2,CONTROLLER://127.0.0.1:1\ncontroller.listener.names=CONTROLLER\n"
        f"log.dirs={tmp_path / 'data'}\n"
    )
    format_storage(require_command("java", "install a Java 17+ runtime"), libs, properties, "-dashFirst0123456789ab")
    assert "cluster.id=-dashFirst0123456789ab" in (tmp_path / "data" / "meta.properties").read_text()
