"""One home for all local state: a checkout's database is its own, and a database that projects another Kafka
log than the broker's is rebuilt from this one before the sink starts (it would refuse its stored offsets)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from connectors.postgres.databases import scratch_database
from connectors.postgres.sink import SinkOptions, run_sink
from deploy.stack import reconcile_projections
from infra import postgres_server
from infra.local_state import kafka_cluster_id, read_binding, record_binding
from infra.postgres_server import LocalPostgres
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import ORDERS_EVENTS


def test_each_home_has_a_database_folder_of_its_own_as_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(postgres_server, "_running_as_root", lambda: True)
    monkeypatch.setattr("pwd.getpwnam", lambda _: type("pw", (), {"pw_dir": str(tmp_path)}))
    first, second = LocalPostgres(tmp_path / "a" / ".sq", 5432), LocalPostgres(tmp_path / "b" / ".sq", 5432)
    assert first.data_dir != second.data_dir
    assert first.data_dir == LocalPostgres(tmp_path / "a" / ".sq", 5432).data_dir
    assert first.data_dir != LocalPostgres(tmp_path / "a" / ".sq", 5433).data_dir


@pytest.fixture
def own_database(catalogue_topics: Settings) -> Iterator[Settings]:
    """The test's topics and a migrated database of its own on the session's server."""
    with scratch_database(catalogue_topics.database_url, "sqtest", migrated=True) as url:
        yield replace(catalogue_topics, external_database_url=url)


@pytest.mark.integration
def test_a_database_of_another_log_is_rebuilt_then_the_sink_starts(own_database: Settings) -> None:
    settings = own_database
    # The database of an earlier broker's life: its sink had read far into a topic the new broker lacks.
    record_binding(settings, "an-earlier-broker")
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO projection_offsets VALUES ('postgres', %s, 0, 1000)", (physical_name(settings, ORDERS_EVENTS),)
        )
    said: list[str] = []
    binding = reconcile_projections(settings, said.append)
    assert binding.stale and binding.database_cluster == "an-earlier-broker"
    assert any("rebuilding" in line for line in said)
    after = read_binding(settings)
    assert after.database_cluster == kafka_cluster_id(settings) and not after.stale
    stats = run_sink(settings, max_seconds=60, options=SinkOptions(until_end=True))
    assert stats.as_json()["caught_up"]
    said.clear()
    assert not reconcile_projections(settings, said.append).stale  # checked again: same log, nothing to do
    assert said == []


@pytest.mark.integration
def test_a_database_without_a_record_adopts_the_brokers_log(own_database: Settings) -> None:
    assert read_binding(own_database).database_cluster is None
    said: list[str] = []
    reconcile_projections(own_database, said.append)
    assert said == [] and read_binding(own_database).database_cluster == kafka_cluster_id(own_database)
