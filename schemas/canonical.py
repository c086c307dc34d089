"""Avro naming, Parsing Canonical Form and fingerprints for schemas split across files.

fastavro computes Parsing Canonical Form only for a self-contained schema, while our files reference
named types defined in other files; `self_contained` inlines each referenced type at its first use
(later uses stay references), which is exactly the shape the canonical form is defined on.
The module also has the CRC-64-AVRO fingerprint and helpers to find named types in a schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

from fastavro.schema import fingerprint

from schemas.errors import SchemaError

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})


class NamedDefinition(NamedTuple):
    full_name: str
    definition: Mapping[str, Any]
    namespace: str  # enclosing namespace the definition was written in, for its relative names


def full_name(name: str, namespace: str) -> str:
    """A name with a dot is already full; otherwise it lives in the enclosing namespace."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


def namespace_of(name: str) -> str:
    return name.rpartition(".")[0]


def definition_name(definition: Mapping[str, Any], namespace: str) -> str:
    return full_name(definition["name"], definition.get("namespace") or namespace)


def named_definitions(schema: Any, namespace: str = "") -> Iterator[NamedDefinition]:
    """Every named type defined (not merely referenced) in a schema, outermost first."""
    if isinstance(schema, list):
        for branch in schema:
            yield from named_definitions(branch, namespace)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in NAMED_KINDS:
            name = definition_name(schema, namespace)
            yield NamedDefinition(name, schema, namespace)
            for field in schema.get("fields", ()):
                yield from named_definitions(field["type"], namespace_of(name))
        elif kind == "array":
            yield from named_definitions(schema["items"], namespace)
        elif kind == "map":
            yield from named_definitions(schema["values"], namespace)
        elif isinstance(kind, dict | list):
            yield from named_definitions(kind, namespace)


def self_contained(schema: Any, definitions: Mapping[str, NamedDefinition]) -> Any:
    """The schema with every referenced named type inlined at its first use, all names written in full."""
    return _inline(schema, "", definitions, set())


_CHILD_SCHEMA: Final = {"array": "items", "map": "values"}  # where a container keeps its element schema


def _inline(schema: Any, namespace: str, definitions: Mapping[str, NamedDefinition], seen: set[str]) -> Any:
    if isinstance(schema, list):
        return [_inline(branch, namespace, definitions, seen) for branch in schema]
    if isinstance(schema, str):
        return _inline_reference(schema, namespace, definitions, seen)
    kind = schema["type"]
    if kind in NAMED_KINDS:
        return _inline_definition(schema, namespace, definitions, seen)
    if child := _CHILD_SCHEMA.get(kind):
        return {**schema, child: _inline(schema[child], namespace, definitions, seen)}
    if kind not in PRIMITIVES:  # {"type": <named reference or nested schema>}
        return {**schema, "type": _inline(kind, namespace, definitions, seen)}
    return schema


def _inline_reference(name: str, namespace: str, definitions: Mapping[str, NamedDefinition], seen: set[str]) -> Any:
    """A primitive, or a named type: its definition at its first use, its full name after."""
    if name in PRIMITIVES:
        return name
    full = full_name(name, namespace)
    if full in seen:
        return full
    if full not in definitions:
        raise SchemaError(f"reference to {full}, which no schema defines")
    found = definitions[full]
    return _inline(found.definition, found.namespace, definitions, seen)


def _inline_definition(
    schema: Mapping[str, Any], namespace: str, definitions: Mapping[str, NamedDefinition], seen: set[str]
) -> dict[str, Any]:
    name = definition_name(schema, namespace)
    seen.add(name)  # before the fields: a recursive reference stays a reference
    inlined = {key: value for key, value in schema.items() if key != "namespace"}
    inlined["name"] = name
    if "fields" in schema:
        inlined["fields"] = [
            {**field, "type": _inline(field["type"], namespace_of(name), definitions, seen)}
            for field in schema["fields"]
        ]
    return inlined


def fingerprint64(canonical: str) -> bytes:
    """CRC-64-AVRO fingerprint of a canonical form, as the 8 little-endian bytes single-object encoding uses."""
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def without_logical_types(schema: Any) -> Any:
    """A copy without logicalType attributes: the codec keeps timestamps as integer microseconds.

    Logical types only change the in-memory representation (fastavro would produce datetimes); the bytes
    and the canonical form, which drops logicalType, are the same either way.
    """
    if isinstance(schema, list):
        return [without_logical_types(item) for item in schema]
    if isinstance(schema, dict):
        return {key: without_logical_types(value) for key, value in schema.items() if key != "logicalType"}
    return schema
