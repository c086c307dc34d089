"""Pointing ShrivenQuant at a cluster: partition counts, a local cluster's layout, faust's credentials."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import faust
import pytest

from deploy.chaos_cluster import fault_points
from infra.kafka_cluster import LAYOUT_FILE, LocalCluster
from processors.runtime.faust_broker import broker_credentials, broker_urls
from settings import Settings, catalogue_partitions


def test_partition_counts_come_from_the_environment() -> None:
    assert catalogue_partitions({}) == (4, 4)
    assert catalogue_partitions({"SQ_ACCOUNT_PARTITIONS": "6", "SQ_SYMBOL_PARTITIONS": "12"}) == (6, 12)
    for bad in ("0", "-1", "six"):
        with pytest.raises(ValueError, match="SQ_ACCOUNT_PARTITIONS"):
            catalogue_partitions({"SQ_ACCOUNT_PARTITIONS": bad})


def test_another_cluster_replaces_servers_and_security_and_travels_to_workers() -> None:
    base = Settings.from_env({"KAFKA_CLIENT_ID": "old"})
    moved = base.with_kafka("b1:9092,b2:9092", {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"})
    assert moved.kafka_config()["bootstrap.servers"] == "b1:9092,b2:9092"
    assert moved.kafka_config()["security.protocol"] == "SASL_SSL" and "client.id" not in moved.kafka_config()
    assert Settings.from_env(moved.as_env()).kafka_config() == moved.kafka_config()


def test_a_cluster_layout_is_written_once_and_loaded_by_another_process(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "kafka_2.13-4.1.1.jar").touch()
    created = LocalCluster.create(tmp_path / "cluster", libs, size=3, sasl=("user", "secret"))
    ports = [p for n in created.nodes for p in (n.port, n.broker_port, n.controller_port)]
    assert len(set(ports)) == 9
    assert LocalCluster.load(tmp_path / "cluster") == created
    assert created.bootstrap_servers.count(",") == 2 and (created.replication, created.min_insync) == (3, 2)
    assert created.client_properties()["security.protocol"] == "SASL_PLAINTEXT"
    assert json.loads((tmp_path / "cluster" / LAYOUT_FILE).read_text())["sasl"] == ["user", "secret"]


def test_faust_takes_the_servers_and_the_security_settings() -> None:
    assert broker_urls("a:1, b:2") == "kafka://a:1;kafka://b:2"
    assert broker_credentials({}) is None
    sasl = broker_credentials(
        {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "u", "sasl.password": "p"}
    )
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.protocol.value, sasl.mechanism.value, sasl.username) == ("SASL_SSL", "SCRAM-SHA-512", "u")
    assert isinstance(sasl.ssl_context, ssl.SSLContext)
    assert broker_credentials({"security.protocol": "SASL_PLAINTEXT"}).protocol.value == "SASL_PLAINTEXT"
    with pytest.raises(ValueError, match=r"linger\.ms"):
        broker_credentials({"linger.ms": "5"})
    with pytest.raises(ValueError, match=r"security\.protocol"):
        broker_credentials({"security.protocol": "TLS"})


def test_fault_points_are_seeded_ordered_and_mid_flow() -> None:
    points = fault_points(5, 6_000, seed=3)
    assert points == fault_points(5, 6_000, seed=3) != fault_points(5, 6_000, seed=4)
    assert points == sorted(points) and points[0] >= 1_000 and points[-1] < 6_000
