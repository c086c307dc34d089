"""House rules every shipped .avsc file follows; a new schema or field that breaks one fails here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from schemas import scales, statuses
from schemas.canonical import named_definitions
from schemas.names import DEAD_LETTER_REASON, EVENT_META, ORDER_EVENT_TYPE, ORDER_STATUS, REJECT_REASON, RISK_CHECK
from schemas.registry import AVRO_DIR, SchemaRegistry

REGISTRY = SchemaRegistry.load()
EVENTS = REGISTRY.event_schema_names()
NAMESPACES = {f"shrivenquant.{ns}" for ns in ("common", "md", "orders", "risk", "venue", "portfolio", "control", "ops")}
TIMESTAMP = {"type": "long", "logicalType": "timestamp-micros"}
# Long fields that hold neither an amount nor a point in time: ids, sequence numbers, counts, durations.
UNSCALED_LONGS = {
    "first_update_id",
    "last_update_id",
    "previous_last_update_id",
    "sequence",
    "fill_count",
    "version",
    "window_us",
    "interval_us",
    "source_offset",
}
AMOUNT_WORDS = re.compile(r"price|quantity|notional|pnl|fee|cash|loss|offset_price|peg_offset")


def fields_of_all_records() -> Iterator[tuple[str, Mapping[str, Any]]]:
    for schema in REGISTRY.current.values():
        for found in named_definitions(schema.definition):
            for field in found.definition.get("fields", ()):
                yield f"{found.full_name}.{field['name']}", field


def holds_long(field_type: Any) -> bool:
    """long, nullable long, timestamp, or an array/map of longs."""
    if isinstance(field_type, list):
        return any(holds_long(branch) for branch in field_type)
    if isinstance(field_type, dict):
        if field_type["type"] in ("array", "map"):
            return holds_long(field_type.get("items", field_type.get("values")))
        return bool(field_type["type"] == "long")
    return bool(field_type == "long")


def is_timestamp(field_type: Any) -> bool:
    return field_type == TIMESTAMP or (isinstance(field_type, list) and TIMESTAMP in field_type)


LONG_FIELDS = [(where, field) for where, field in fields_of_all_records() if holds_long(field["type"])]


@pytest.mark.parametrize(("where", "field"), LONG_FIELDS, ids=[where for where, _ in LONG_FIELDS])
def test_every_long_is_an_amount_a_timestamp_or_a_known_counter(where: str, field: Mapping[str, Any]) -> None:
    kinds = [
        "sq.scale" in field,
        is_timestamp(field["type"]),
        field["name"] in UNSCALED_LONGS,
    ]
    assert kinds.count(True) == 1, f"{where}: give it an sq.scale, a timestamp-micros type, or list it as unscaled"
    if AMOUNT_WORDS.search(field["name"]) and field["name"] not in UNSCALED_LONGS:
        assert "sq.scale" in field, f"{where} looks like an amount but has no sq.scale"


SCALED_FIELDS = [(where, field) for where, field in fields_of_all_records() if "sq.scale" in field]


@pytest.mark.parametrize(("where", "field"), SCALED_FIELDS, ids=[where for where, _ in SCALED_FIELDS])
def test_scaled_fields_name_a_known_scale_in_attribute_and_doc(where: str, field: Mapping[str, Any]) -> None:
    assert holds_long(field["type"]), f"{where}: only long fields carry a fixed-point scale"
    scale = field["sq.scale"]
    assert scale in scales.SCALES or scale == scales.BY_CHECK, f"{where}: unknown scale {scale!r}"
    assert f"{scale} scale" in field["doc"], f"{where}: the doc must name the {scale} scale"


def test_by_check_scales_cover_every_risk_check() -> None:
    symbols = REGISTRY.get(RISK_CHECK).definition["symbols"]
    assert sorted(scales.CHECK_SCALES) == sorted(symbols)
    assert {scale for scale in scales.CHECK_SCALES.values() if scale} <= set(scales.SCALES)


@pytest.mark.parametrize("name", EVENTS)
def test_events_have_meta_first_a_version_and_a_doc(name: str) -> None:
    definition = REGISTRY.get(name).definition
    assert definition["fields"][0] == {
        "name": "meta",
        "type": EVENT_META,
        "doc": definition["fields"][0]["doc"],
    }
    version = definition["version"]
    assert isinstance(version, int) and version >= 1
    for earlier in range(1, version):  # every earlier version stays readable: frozen in the history folder
        assert (REGISTRY.directory / "history" / f"{name}.v{earlier}.avsc").is_file(), f"{name} v{earlier} not frozen"
    assert definition["doc"].strip()


def test_every_field_has_a_doc() -> None:
    undocumented = [where for where, field in fields_of_all_records() if not field.get("doc", "").strip()]
    assert undocumented == []


def test_nullable_unions_put_null_first_with_a_null_default() -> None:
    for where, field in fields_of_all_records():
        if isinstance(field["type"], list) and "null" in field["type"]:
            assert field["type"][0] == "null", where
            assert "default" in field and field["default"] is None, where


def test_time_fields_are_timestamp_micros() -> None:
    for where, field in fields_of_all_records():
        name = field["name"]
        if name.endswith("_time_us") or name.endswith("_until_us") or name == "window_end_us":
            assert is_timestamp(field["type"]), where


def test_enum_defaults_are_symbols() -> None:
    defaults = {}
    for schema in REGISTRY.current.values():
        if schema.definition["type"] == "enum" and "default" in schema.definition:
            assert schema.definition["default"] in schema.definition["symbols"]
            defaults[schema.full_name] = schema.definition["default"]
    assert defaults == {
        REJECT_REASON: "OTHER",
        DEAD_LETTER_REASON: "PROCESSING_ERROR",
    }


def test_one_named_type_per_file_in_a_known_namespace() -> None:
    for path in sorted(AVRO_DIR.glob("*.avsc")):
        definition = json.loads(path.read_text())
        defined = [found.full_name for found in named_definitions(definition)]
        assert defined == [path.name.removesuffix(".avsc")], f"{path.name} defines {defined}"
        assert definition["namespace"] in NAMESPACES, path.name
        assert definition.get("doc", "").strip(), f"{path.name} has no doc"


def test_topic_catalogue_names_only_shipped_event_schemas() -> None:
    catalogue = pytest.importorskip("topics.catalogue")
    named = {schema for spec in catalogue.CATALOGUE for schema in spec.value_schemas}
    assert named <= set(EVENTS), named - set(EVENTS)


def test_order_status_sets_name_schema_symbols() -> None:
    assert set(REGISTRY.get(ORDER_STATUS).definition["symbols"]) >= statuses.TERMINAL_STATUSES
    assert set(REGISTRY.get(ORDER_EVENT_TYPE).definition["symbols"]) >= statuses.FILL_EVENT_TYPES
