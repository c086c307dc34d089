"""`sq topics create | list` against the real broker."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # re-exported, not listed in __all__

from schemas.codec import default_codec
from schemas.names import NEW_ORDER
from settings import Settings
from topics.admin import admin_client, create_topics, list_topics, physical_name
from topics.catalogue import CATALOGUE, spec_for

pytestmark = pytest.mark.integration


def test_create_is_idempotent(settings: Settings) -> None:
    first = create_topics(settings)
    assert {r.outcome for r in first} == {"created"}
    second = create_topics(settings)
    assert {r.outcome for r in second} == {"exists"}


def test_create_reports_a_live_topic_that_differs_from_the_catalogue(settings: Settings) -> None:
    spec = spec_for("orders.events")
    name = physical_name(settings, spec.name)
    admin = admin_client(settings)  # held: a handle that is collected cancels its pending futures
    admin.create_topics([NewTopic(name, spec.partitions + 1, config={"retention.ms": "1000"})])[name].result()
    report = next(r for r in create_topics(settings) if r.spec == spec)
    assert report.outcome == "differs"
    assert f"partitions: live {spec.partitions + 1}, catalogue {spec.partitions}" in report.differences
    assert "retention.ms: live 1000, catalogue -1" in report.differences


def test_list_joins_the_catalogue_with_the_cluster(settings: Settings) -> None:
    create_topics(settings, [spec_for("orders.commands")])
    rows = {row["name"]: row for row in list_topics(settings)}
    commands = rows[physical_name(settings, "orders.commands")]
    assert commands["exists"] and commands["live_partitions"] == commands["partitions"]
    assert commands["cleanup_policy"] == "delete"
    assert NEW_ORDER in commands["schema"]
    assert rows[physical_name(settings, "orders.events")]["exists"] is False


def test_every_value_schema_of_the_catalogue_exists() -> None:
    known = set(default_codec().schema_names())
    for spec in CATALOGUE:
        assert set(spec.value_schemas) <= known, spec.name
