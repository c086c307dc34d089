"""Avro single-object encoding of ShrivenQuant events, over fastavro.

Wire format (Avro spec, "Single-object encoding"): the marker bytes C3 01, the 8-byte little-endian
CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary body.
The fingerprint names the writer schema, so a reader needs no registry round trip and old records
(written with a version kept in `avro/history/`) are resolved against the current schema.

Records are plain dicts. Timestamps stay integer microseconds; a float or Decimal where the schema has an
int or long is refused (fastavro would truncate it). A union of several record types (only
RiskDecision.command) is written and read as a `(full name, record)` tuple.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, NamedTuple

from fastavro import schemaless_reader, schemaless_writer

from schemas.errors import DecodeError, EncodeError, SchemaError, UnknownSchemaError
from schemas.explain import explain_mismatch, first_problem
from schemas.guard import Check, compile_guard
from schemas.registry import SchemaRegistry, SchemaVersion

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8


class Decoded(NamedTuple):
    schema: str  # full name of the schema the record was resolved to
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Reader:
    """How to read bodies written with one writer schema, as one reader schema."""

    reader_name: str
    writer: Any  # parsed writer schema
    reader: Any  # parsed reader schema, or None when it is the writer itself (no resolution needed)
    # fastavro's record-name option costs ~15% on every read; only schemas with a union of several
    # records (RiskDecision.command) need it, to tell the branches apart.
    record_names: bool


class Codec:
    """Encodes records to single-object bytes and decodes them back; safe to share between threads."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        # Hot-path tables, built once: full name -> (header, parsed schema); fingerprint -> reader.
        self._writers: dict[str, tuple[bytes, Any, Check | None]] = {
            name: (MARKER + schema.fingerprint, schema.parsed, compile_guard(schema.parsed))
            for name, schema in registry.current.items()
        }
        self._readers: dict[bytes, _Reader] = {
            fingerprint: self._reader_for(writer, None) for fingerprint, writer in registry.writers.items()
        }
        self._explicit_readers: dict[tuple[bytes, str], _Reader] = {}

    def encode(self, schema_name: str, record: Mapping[str, Any]) -> bytes:
        """Single-object bytes of `record` written with the current schema `schema_name` (a full name)."""
        try:
            header, schema, guard = self._writers[schema_name]
        except KeyError:
            raise EncodeError(self._unknown(schema_name)) from None
        if guard is not None and not _passes(guard, record):
            named = schema.get("__named_schemas", {})
            if problem := first_problem(schema, record, named):  # the slow, precise verdict
                raise EncodeError(f"{schema_name}: {problem}")
        out = BytesIO(header)
        out.seek(HEADER_SIZE)
        try:
            schemaless_writer(out, schema, record, strict_allow_default=True)
        except Exception as exc:  # fastavro raises TypeError/ValueError/OverflowError/KeyError/...
            raise EncodeError(f"{schema_name}: {explain_mismatch(schema, record, exc)}") from exc
        return out.getvalue()

    def decode(self, data: bytes, reader: str | None = None) -> Decoded:
        """The record in `data`, resolved to the current schema of its name, or to `reader` (a full name)."""
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise DecodeError(_bad_header(data))
        fingerprint = data[2:HEADER_SIZE]
        how = self._readers.get(fingerprint) if reader is None else self._explicit_reader(fingerprint, reader)
        if how is None:
            raise UnknownSchemaError(
                f"unknown writer schema fingerprint {fingerprint.hex()} (CRC-64-AVRO, little-endian): "
                f"not a current or historical schema in {self.registry.directory}"
            )
        body = BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(
                body, how.writer, how.reader, return_record_name=how.record_names, return_record_name_override=True
            )
        except Exception as exc:  # fastavro raises EOFError, IndexError, UnicodeDecodeError, ValueError, ...
            if isinstance(exc, EOFError) or body.tell() >= len(data):  # it ran out of bytes
                raise DecodeError(
                    f"truncated body: {how.reader_name} needs more than the {len(data) - HEADER_SIZE} body bytes given"
                ) from exc
            # Garbage: an impossible union or enum index, invalid UTF-8, a failed schema resolution, ...
            raise DecodeError(f"body does not parse as {how.reader_name}: {type(exc).__name__}: {exc}") from exc
        if (extra := len(data) - body.tell()) > 0:
            raise DecodeError(f"{extra} unexpected bytes after the {how.reader_name} record")
        return Decoded(how.reader_name, record)  # type: ignore[arg-type]  # a record schema reads as a dict

    def fingerprint(self, schema_name: str) -> bytes:
        """The 8-byte wire fingerprint of the current schema `schema_name`."""
        return self.registry.get(schema_name).fingerprint

    def schema_names(self) -> tuple[str, ...]:
        return self.registry.schema_names()

    def event_schema_names(self) -> tuple[str, ...]:
        return self.registry.event_schema_names()

    def resolve_name(self, name: str) -> str:
        """Full name for a short one ("Trade"), for humans and tools; the hot path takes full names only."""
        return self.registry.resolve_name(name)

    def _reader_for(self, writer: SchemaVersion, reader_name: str | None) -> _Reader:
        name = writer.full_name if reader_name is None else reader_name
        reader = self.registry.current.get(name)
        if reader is None or reader.fingerprint == writer.fingerprint:  # read as written
            return _Reader(name, writer.parsed, None, has_record_union(writer.parsed))
        return _Reader(name, writer.parsed, reader.parsed, has_record_union(reader.parsed))

    def _explicit_reader(self, fingerprint: bytes, reader_name: str) -> _Reader | None:
        key = (fingerprint, reader_name)
        if key not in self._explicit_readers:
            writer = self.registry.writers.get(fingerprint)
            if writer is None:
                return None
            if reader_name not in self.registry.current:
                raise DecodeError(self._unknown(reader_name))
            if writer.full_name != reader_name:
                raise DecodeError(f"the record is a {writer.full_name}, not a {reader_name}")
            self._explicit_readers[key] = self._reader_for(writer, reader_name)
        return self._explicit_readers[key]

    def _unknown(self, schema_name: str) -> str:
        try:
            hint = f"; did you mean {self.registry.resolve_name(schema_name)!r}?"
        except SchemaError:
            hint = ""
        return f"unknown schema {schema_name!r}{hint}"


def _passes(guard: Check, record: Mapping[str, Any]) -> bool:
    try:
        return guard(record)
    except Exception:  # not even dict-like where a record belongs: let the precise check say so
        return False


def has_record_union(schema: Any) -> bool:
    """Whether a parsed schema has a union of two or more record types anywhere."""
    named: Mapping[str, Any] = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    records = {name for name, definition in named.items() if definition.get("type") in ("record", "error")}

    def is_record(branch: Any) -> bool:  # a reference, or the definition itself at its first use
        return branch in records if isinstance(branch, str) else branch.get("type") in ("record", "error")

    def walk(node: Any) -> bool:
        if isinstance(node, list):
            return sum(map(is_record, node)) > 1 or any(walk(branch) for branch in node)
        if isinstance(node, dict):
            children = [field["type"] for field in node.get("fields", ())]
            children += [node[key] for key in ("items", "values") if key in node]
            return any(walk(child) for child in children)
        return False

    return any(walk(definition) for definition in named.values()) or walk(schema)


def _bad_header(data: bytes) -> str:
    if not data:
        return f"empty value: expected {HEADER_SIZE} header bytes (marker c301 and an 8-byte fingerprint)"
    if data[:2] != MARKER[: len(data[:2])]:
        return f"not Avro single-object encoding: expected marker c301, found {bytes(data[:2]).hex()}"
    return f"truncated header: {len(data)} bytes, need {HEADER_SIZE} (marker c301 and an 8-byte fingerprint)"


@functools.cache
def default_codec() -> Codec:
    """The codec for the schemas shipped in `schemas/avro/`, loaded once per process."""
    return Codec(SchemaRegistry.load())
