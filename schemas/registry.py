"""Loads the Avro schemas: current versions from `avro/*.avsc`, older writer versions from `avro/history/`.

File layout: one named type per file, called `<full name>.avsc`, referring to types in other files by full
name. A historical version is `history/<full name>.v<N>.avsc`; it is only ever a *writer* schema, so that
records written before a change stay readable (they are resolved against the current schema).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, UnknownType, to_parsing_canonical_form

from schemas.canonical import (
    NamedDefinition,
    definition_name,
    fingerprint64,
    named_definitions,
    self_contained,
    without_logical_types,
)
from schemas.errors import SchemaError

AVRO_DIR = Path(__file__).resolve().parent / "avro"
HISTORY_DIRNAME = "history"
_HISTORY_FILE = re.compile(r"(?P<name>.+)\.v(?P<version>\d+)\.avsc")


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One version of one named type."""

    full_name: str
    version: int | None  # the "version" attribute; for a history file the N of `.v<N>.avsc`
    path: Path
    definition: Mapping[str, Any]  # the JSON as written: docs and custom attributes included
    parsed: Any  # fastavro-parsed, without logical types: what the codec reads and writes with
    canonical_form: str
    fingerprint: bytes  # CRC-64-AVRO of the canonical form, little-endian as on the wire
    current: bool

    @property
    def short_name(self) -> str:
        return self.full_name.rpartition(".")[2]

    @property
    def is_event(self) -> bool:
        """Events (commands included) are top-level records with a "version" attribute and a `meta` field."""
        definition = self.definition
        return (
            definition.get("type") == "record"
            and "version" in definition
            and any(field["name"] == "meta" for field in definition.get("fields", ()))
        )


class SchemaRegistry:
    """Current schemas by full name, and every known writer version by fingerprint."""

    def __init__(
        self,
        directory: Path,
        current: Iterable[SchemaVersion],
        history: Iterable[SchemaVersion],
        definitions: Mapping[str, NamedDefinition],
    ) -> None:
        self.directory = directory
        self.current: Mapping[str, SchemaVersion] = MappingProxyType({s.full_name: s for s in current})
        self.history: tuple[SchemaVersion, ...] = tuple(history)
        self._definitions = definitions
        writers: dict[bytes, SchemaVersion] = {}
        for schema in (*self.current.values(), *self.history):
            writers.setdefault(schema.fingerprint, schema)  # a history file equal to the current adds nothing
        self.writers: Mapping[bytes, SchemaVersion] = MappingProxyType(writers)

    @classmethod
    def load(cls, directory: Path = AVRO_DIR) -> SchemaRegistry:
        """Parses every schema; raises SchemaError naming the file on any inconsistency."""
        sources = [_read_current(path) for path in sorted(directory.glob("*.avsc"))]
        if not sources:
            raise SchemaError(f"no .avsc files in {directory}")
        definitions, defined_by = _index_definitions(sources)
        _check_references(sources, defined_by, directory)
        current = [_version(source, definitions) for source in sources]
        by_name = {schema.full_name: schema for schema in current}
        history = _load_history(directory / HISTORY_DIRNAME, by_name, definitions)
        return cls(directory, current, history, definitions)

    def schema_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.current))

    def event_schema_names(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, schema in self.current.items() if schema.is_event))

    def get(self, full_name: str) -> SchemaVersion:
        try:
            return self.current[full_name]
        except KeyError:
            raise SchemaError(f"unknown schema {full_name!r}") from None

    def resolve_name(self, name: str) -> str:
        """The full name for a full or unambiguous short name, e.g. "Trade" -> "shrivenquant.md.Trade"."""
        if name in self.current:
            return name
        matches = sorted(schema.full_name for schema in self.current.values() if schema.short_name == name)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise SchemaError(f"{name!r} is ambiguous: {', '.join(matches)}")
        raise SchemaError(f"unknown schema {name!r}; known: {', '.join(self.schema_names())}")

    def self_contained(self, full_name: str) -> dict[str, Any]:
        """The current definition with every referenced type inlined: what a history snapshot stores."""
        expanded: dict[str, Any] = self_contained(self.get(full_name).definition, self._definitions)
        return expanded


@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    definition: dict[str, Any]
    full_name: str


def _read(path: Path) -> _Source:
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"{path.name}: not readable JSON: {exc}") from exc
    if not isinstance(definition, dict) or not isinstance(definition.get("name"), str):
        raise SchemaError(f"{path.name}: expected a named type (record, enum or fixed) at the top level")
    return _Source(path, definition, definition_name(definition, ""))


def _read_current(path: Path) -> _Source:
    source = _read(path)
    if path.name != f"{source.full_name}.avsc":
        raise SchemaError(f"{path.name} defines {source.full_name}; name the file {source.full_name}.avsc")
    return source


def _index_definitions(sources: Iterable[_Source]) -> tuple[dict[str, NamedDefinition], dict[str, str]]:
    """Every named type by full name, and which file (by its top-level type) defines it."""
    definitions: dict[str, NamedDefinition] = {}
    defined_by: dict[str, str] = {}
    for source in sources:
        for found in named_definitions(source.definition):
            if found.full_name in defined_by:
                first = defined_by[found.full_name]
                raise SchemaError(f"{found.full_name} is defined in both {first}.avsc and {source.path.name}")
            definitions[found.full_name] = found
            defined_by[found.full_name] = source.full_name
    return definitions, defined_by


def _check_references(sources: list[_Source], defined_by: Mapping[str, str], directory: Path) -> None:
    """Parses every file with one shared pool of named types, retrying those whose references are not parsed
    yet; fails naming the file when a reference is missing or files refer to each other in a cycle."""
    pool: dict[str, Any] = {}
    pending = sources
    while pending:
        waiting: dict[str, str] = {}  # a file's type -> the type it waits for
        for source in pending:
            trial = dict(pool)  # a failed parse must not leave half-registered types in the pool
            try:
                _parse(source.path, source.definition, trial)
            except UnknownType as missing:
                waiting[source.full_name] = missing.name
                continue
            pool.update(trial)
        if len(waiting) == len(pending):
            raise SchemaError(_why_stuck(waiting, defined_by, directory))
        pending = [source for source in pending if source.full_name in waiting]


def _parse(path: Path, definition: Any, named: dict[str, Any]) -> Any:
    try:
        return parse_schema(without_logical_types(definition), named)
    except UnknownType:
        raise
    except (SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise SchemaError(f"{path.name}: invalid schema: {exc}") from exc


def _why_stuck(waiting: Mapping[str, str], defined_by: Mapping[str, str], directory: Path) -> str:
    """No file parsed in a round: either a reference nobody defines, or files waiting on each other."""
    for name, needed in sorted(waiting.items()):
        if needed not in defined_by:
            return f"{name}.avsc references {needed}, which no .avsc file in {directory} defines"
    # Every waiting file waits for another waiting file: follow the waits until one repeats.
    chain = [min(waiting)]
    while (step := defined_by[waiting[chain[-1]]]) not in chain:
        chain.append(step)
    cycle = [*chain[chain.index(step) :], step]
    return "cyclic references between schema files: " + " -> ".join(f"{name}.avsc" for name in cycle)


def _version(
    source: _Source, definitions: Mapping[str, NamedDefinition], history_version: int | None = None
) -> SchemaVersion:
    # The codec works with the self-contained form: it is what the fingerprint identifies, and fastavro
    # copies a parsed schema's named types on every read and write, so carrying only the types this
    # schema uses (not every type in the directory) is measurably faster.
    try:
        expanded = self_contained(source.definition, definitions)
    except SchemaError as exc:
        raise SchemaError(f"{source.path.name}: {exc}") from None
    form = to_parsing_canonical_form(expanded)
    return SchemaVersion(
        full_name=source.full_name,
        version=source.definition.get("version") if history_version is None else history_version,
        path=source.path,
        definition=source.definition,
        parsed=_parse(source.path, expanded, {}),
        canonical_form=form,
        fingerprint=fingerprint64(form),
        current=history_version is None,
    )


def _load_history(
    directory: Path, current: Mapping[str, SchemaVersion], definitions: Mapping[str, NamedDefinition]
) -> list[SchemaVersion]:
    history = []
    for path in sorted(directory.glob("*.avsc")):
        match = _HISTORY_FILE.fullmatch(path.name)
        if match is None:
            raise SchemaError(f"history/{path.name}: history files are named <full name>.v<N>.avsc")
        source = _read(path)
        version = int(match["version"])
        _check_history_file(source, match["name"], version, current.get(source.full_name))
        # Types an old version does not define itself resolve to the current ones; its own win.
        own = {found.full_name: found for found in named_definitions(source.definition)}
        history.append(_version(source, {**definitions, **own}, history_version=version))
    return history


def _check_history_file(source: _Source, file_name: str, version: int, current: SchemaVersion | None) -> None:
    name = source.path.name
    if source.full_name != file_name:
        raise SchemaError(f"history/{name} defines {source.full_name}; name it {source.full_name}.v{version}.avsc")
    declared = source.definition.get("version")
    if declared is not None and declared != version:
        raise SchemaError(f'history/{name} says "version": {declared} but its file name says v{version}')
    if current is not None and current.version is not None and version >= current.version:
        raise SchemaError(
            f"history/{name} is v{version} but the current {source.full_name} is v{current.version}: "
            "history keeps older versions only"
        )
