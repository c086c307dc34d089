"""Loading schema files: cross-file references in any order, and clear failures when they are broken."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import SchemaError
from schemas.registry import AVRO_DIR, SchemaRegistry


def record(name: str, *field_types: Any, version: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "record",
        "name": name.rpartition(".")[2],
        "namespace": name.rpartition(".")[0],
        "fields": [{"name": f"f{index}", "type": field_type} for index, field_type in enumerate(field_types)],
    }
    if version is not None:
        schema["version"] = version
    return schema


def write_all(directory: Path, *schemas: dict[str, Any]) -> Path:
    for schema in schemas:
        (directory / f"{schema['namespace']}.{schema['name']}.avsc").write_text(json.dumps(schema))
    return directory


def test_references_resolve_whatever_the_file_order(tmp_path: Path) -> None:
    # a.A needs b.B needs c.C: alphabetical order is the worst case and needs retries.
    write_all(tmp_path, record("a.A", "b.B"), record("b.B", "c.C"), record("c.C", "long"))
    registry = SchemaRegistry.load(tmp_path)
    assert registry.schema_names() == ("a.A", "b.B", "c.C")
    assert registry.get("a.A").canonical_form.count('"type":"record"') == 3


def test_missing_reference_names_file_and_type(tmp_path: Path) -> None:
    write_all(tmp_path, record("a.A", "long"), record("a.B", "a.Missing"))
    with pytest.raises(SchemaError, match=r"a\.B\.avsc references a\.Missing, which no \.avsc file in .* defines"):
        SchemaRegistry.load(tmp_path)


def test_cycle_between_files_is_named(tmp_path: Path) -> None:
    write_all(tmp_path, record("a.A", "a.B"), record("a.B", "a.C"), record("a.C", "a.A"), record("a.D", "a.A"))
    with pytest.raises(
        SchemaError,
        match=r"cyclic references between schema files: a\.A\.avsc -> a\.B\.avsc -> "
        r"a\.C\.avsc -> a\.A\.avsc",
    ):
        SchemaRegistry.load(tmp_path)


def test_file_must_be_named_after_its_type(tmp_path: Path) -> None:
    (tmp_path / "Wrong.avsc").write_text(json.dumps(record("a.A", "long")))
    with pytest.raises(SchemaError, match=r"Wrong\.avsc defines a\.A; name the file a\.A\.avsc"):
        SchemaRegistry.load(tmp_path)


def test_a_type_defined_twice_is_refused(tmp_path: Path) -> None:
    inline = {"type": "enum", "name": "E", "namespace": "a", "symbols": ["X"]}
    write_all(tmp_path, inline, record("a.A", inline))
    with pytest.raises(SchemaError, match=r"a\.E is defined in both a\.A\.avsc and a\.E\.avsc"):
        SchemaRegistry.load(tmp_path)


def test_invalid_json_and_invalid_schemas(tmp_path: Path) -> None:
    (tmp_path / "a.A.avsc").write_text("{not json")
    with pytest.raises(SchemaError, match=r"a\.A\.avsc: not readable JSON"):
        SchemaRegistry.load(tmp_path)
    write_all(tmp_path, record("a.A", "lung"))
    with pytest.raises(SchemaError, match="lung"):
        SchemaRegistry.load(tmp_path)
    with pytest.raises(SchemaError, match=re.escape("no .avsc files")):
        SchemaRegistry.load(tmp_path / "empty")


def test_events_are_versioned_records_with_meta(tmp_path: Path) -> None:
    meta = record("a.Meta", "string")
    event = {**record("a.Event", "long", version=1), "fields": [{"name": "meta", "type": "a.Meta"}]}
    write_all(tmp_path, meta, event, record("a.Unversioned", "a.Meta"))
    assert SchemaRegistry.load(tmp_path).event_schema_names() == ("a.Event",)


def test_short_names(tmp_path: Path) -> None:
    write_all(tmp_path, record("a.X", "long"), record("b.X", "long"), record("b.Y", "long"))
    registry = SchemaRegistry.load(tmp_path)
    assert registry.resolve_name("Y") == "b.Y"
    with pytest.raises(SchemaError, match=re.escape("'X' is ambiguous: a.X, b.X")):
        registry.resolve_name("X")
    with pytest.raises(SchemaError, match="unknown schema 'Z'"):
        registry.resolve_name("Z")


def test_shipped_schemas_load() -> None:
    registry = SchemaRegistry.load()
    assert registry.directory == AVRO_DIR
    assert len(registry.schema_names()) == len(list(AVRO_DIR.glob("*.avsc")))
