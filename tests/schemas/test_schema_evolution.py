"""Records written with an older schema version stay readable after the schema changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import Codec
from schemas.errors import DecodeError, SchemaError, UnknownSchemaError
from schemas.freeze import freeze
from schemas.registry import SchemaRegistry

NAME = "test.evolution.Quote"
V1: dict[str, Any] = {
    "type": "record",
    "name": "Quote",
    "namespace": "test.evolution",
    "version": 1,
    "doc": "A quote.",
    "fields": [
        {"name": "symbol", "type": "string"},
        {"name": "price", "type": "long", "sq.scale": "price"},
    ],
}
V2: dict[str, Any] = {
    **V1,
    "version": 2,
    "fields": [
        *V1["fields"],
        {"name": "venue", "type": "string", "default": "sim"},
        {"name": "size", "type": ["null", "long"], "default": None},
    ],
}


def write(path: Path, schema: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema))


def codec_for(directory: Path) -> Codec:
    return Codec(SchemaRegistry.load(directory))


@pytest.fixture
def v1_bytes(tmp_path: Path) -> bytes:
    write(tmp_path / "v1" / f"{NAME}.avsc", V1)
    return codec_for(tmp_path / "v1").encode(NAME, {"symbol": "BTCUSDT", "price": 6_425_050_000_000})


def test_v2_reads_v1_bytes_with_defaults_filled_in(tmp_path: Path, v1_bytes: bytes) -> None:
    write(tmp_path / "v2" / f"{NAME}.avsc", V2)
    write(tmp_path / "v2" / "history" / f"{NAME}.v1.avsc", V1)
    codec = codec_for(tmp_path / "v2")
    decoded = codec.decode(v1_bytes)
    assert decoded.schema == NAME
    assert decoded.record == {"symbol": "BTCUSDT", "price": 6_425_050_000_000, "venue": "sim", "size": None}
    assert codec.decode(v1_bytes, reader=NAME) == decoded


def test_v2_reads_v2_bytes(tmp_path: Path) -> None:
    write(tmp_path / f"{NAME}.avsc", V2)
    write(tmp_path / "history" / f"{NAME}.v1.avsc", V1)
    codec = codec_for(tmp_path)
    record = {"symbol": "ETHUSDT", "price": 340_025_000_000, "venue": "binance", "size": 5}
    assert codec.decode(codec.encode(NAME, record)).record == record


def test_without_the_old_version_in_history_old_bytes_are_unknown(tmp_path: Path, v1_bytes: bytes) -> None:
    write(tmp_path / "v2" / f"{NAME}.avsc", V2)
    with pytest.raises(DecodeError, match=f"unknown writer schema fingerprint {v1_bytes[2:10].hex()}"):
        codec_for(tmp_path / "v2").decode(v1_bytes)


def test_freeze_then_change_keeps_old_records_readable(tmp_path: Path, v1_bytes: bytes) -> None:
    directory = tmp_path / "v1"
    snapshot = freeze(SchemaRegistry.load(directory), NAME)
    assert snapshot == directory / "history" / f"{NAME}.v1.avsc"
    write(directory / f"{NAME}.avsc", V2)
    assert codec_for(directory).decode(v1_bytes).record["venue"] == "sim"


def test_freeze_snapshot_survives_changes_to_shared_types(tmp_path: Path) -> None:
    side = {"type": "enum", "name": "Side", "namespace": "test.common", "symbols": ["BUY", "SELL"]}
    order = {**V1, "name": "Order", "fields": [*V1["fields"], {"name": "side", "type": "test.common.Side"}]}
    write(tmp_path / "test.common.Side.avsc", side)
    write(tmp_path / "test.evolution.Order.avsc", order)
    old_bytes = codec_for(tmp_path).encode("test.evolution.Order", {"symbol": "X", "price": 1, "side": "SELL"})

    snapshot = json.loads(freeze(SchemaRegistry.load(tmp_path), "test.evolution.Order").read_text())
    inlined = {"type": "enum", "name": "test.common.Side", "symbols": ["BUY", "SELL"]}
    assert snapshot["fields"][-1]["type"] == inlined

    # A symbol added to the shared enum changes Order's fingerprint, but the snapshot still has the old one.
    write(tmp_path / "test.common.Side.avsc", {**side, "symbols": ["BUY", "SELL", "SHORT"]})
    write(tmp_path / "test.evolution.Order.avsc", {**order, "version": 2})
    decoded = codec_for(tmp_path).decode(old_bytes)
    assert decoded.record == {"symbol": "X", "price": 1, "side": "SELL"}


def test_freezing_twice_without_a_version_bump_is_refused(tmp_path: Path) -> None:
    write(tmp_path / f"{NAME}.avsc", V1)
    freeze(SchemaRegistry.load(tmp_path), NAME)
    with pytest.raises(SchemaError, match="history keeps older versions only"):
        SchemaRegistry.load(tmp_path)  # until the current schema is bumped to v2


def test_history_file_names_are_checked(tmp_path: Path) -> None:
    write(tmp_path / f"{NAME}.avsc", V2)
    write(tmp_path / "history" / f"{NAME}.avsc", V1)
    with pytest.raises(SchemaError, match=r"named <full name>\.v<N>\.avsc"):
        SchemaRegistry.load(tmp_path)


def test_history_version_must_match_its_file_name(tmp_path: Path) -> None:
    write(tmp_path / f"{NAME}.avsc", {**V2, "version": 3})
    write(tmp_path / "history" / f"{NAME}.v2.avsc", V1)
    with pytest.raises(SchemaError, match='says "version": 1 but its file name says v2'):
        SchemaRegistry.load(tmp_path)


def test_history_schemas_are_writers_only(tmp_path: Path) -> None:
    write(tmp_path / f"{NAME}.avsc", V2)
    write(tmp_path / "history" / f"{NAME}.v1.avsc", V1)
    registry = SchemaRegistry.load(tmp_path)
    assert registry.get(NAME).version == 2
    assert [(schema.full_name, schema.version, schema.current) for schema in registry.history] == [(NAME, 1, False)]
    assert len(registry.writers) == 2


def test_shipped_new_order_v1_records_read_as_v2_and_v1_readers_refuse_the_new_algorithms(tmp_path: Path) -> None:
    """NewOrder v2 (the Algo enum grew IMPLEMENTATION_SHORTFALL and SNIPER): records written with v1 still read
    as v2; a reader that only knows v1 refuses a v2 record (its writer fingerprint is unknown to it: an
    UNKNOWN_SCHEMA dead letter), so a new algorithm is never worked as another one."""
    from schemas.codec import default_codec
    from schemas.examples import example_event
    from schemas.names import NEW_ORDER

    history = Path(__file__).resolve().parents[2] / "schemas" / "avro" / "history"
    v1 = json.loads((history / f"{NEW_ORDER}.v1.avsc").read_text())
    write(tmp_path / "v1" / f"{NEW_ORDER}.avsc", v1)
    old = codec_for(tmp_path / "v1")
    instruction = {
        "algo": "TWAP",
        "start_time_us": None,
        "end_time_us": None,
        "participation_bps": None,
        "display_quantity": None,
        "peg_offset": None,
        "params": {"duration_s": "60"},
    }
    record = example_event(NEW_ORDER, execution=instruction)
    assert default_codec().decode(old.encode(NEW_ORDER, record)).record == record
    sniper = example_event(NEW_ORDER, execution={**instruction, "algo": "SNIPER", "params": {}})
    with pytest.raises(UnknownSchemaError):
        old.decode(default_codec().encode(NEW_ORDER, sniper))
