"""Refuses floats and Decimals where a schema has an int or long: fastavro would truncate them silently
(a price of 64250.7 would be written as 64250).

This runs on every encode, so each schema is compiled once into checks built from C-level pieces
(map, type, set) that only ask "is every integer-typed value exactly an int or None?". A record that fails
that question is not necessarily wrong (a numpy int, a union given as a plain dict): the codec then asks
`explain.first_problem` for the precise, slow verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]  # True: every integer-typed value is exactly an int or None

_EXACT = frozenset({int, type(None)})


def _in_progress(value: Any) -> bool:  # placeholder while a record type's check is being compiled
    raise AssertionError("a record check was called before it was compiled")


_IN_PROGRESS: Check = _in_progress
_INTEGER_TYPES = frozenset({"int", "long"})


def compile_guard(schema: Any) -> Check | None:
    """A fast check for a fastavro-parsed schema; None when the schema has no integer fields at all."""
    named: Mapping[str, Any] = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    return _Compiler(named).check_for(schema)


class _Compiler:
    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.records: dict[str, Check | None] = {}  # by full name: each record type is compiled once

    def check_for(self, schema: Any) -> Check | None:  # noqa: PLR0911  one return per kind of Avro schema
        if isinstance(schema, str):
            return self.check_for(self.named[schema]) if schema in self.named else None
        if isinstance(schema, list):
            return self._union(schema)
        kind = schema["type"]
        if kind == "record":
            return self._record(schema)
        if kind == "array":
            return self._items(schema["items"], lambda value: value)
        if kind == "map":
            return self._items(schema["values"], lambda value: value.values())
        if isinstance(kind, dict | list) or kind in self.named:
            return self.check_for(kind)
        return None

    def _record(self, schema: Mapping[str, Any]) -> Check | None:
        name = schema["name"]
        if name in self.records:
            compiled = self.records[name]
            if compiled is not _IN_PROGRESS:
                return compiled
            # A recursive type: its check does not exist yet, so look it up when called.
            return lambda value: (inner := self.records[name]) is None or inner(value)
        self.records[name] = _IN_PROGRESS
        integers = tuple(field["name"] for field in schema["fields"] if _is_integer(field["type"]))
        nested = tuple(
            (field["name"], inner)
            for field in schema["fields"]
            if not _is_integer(field["type"]) and (inner := self.check_for(field["type"])) is not None
        )
        if not integers and not nested:
            self.records[name] = None
            return None

        def check(record: Any) -> bool:
            get = record.get
            if not _EXACT.issuperset(map(type, map(get, integers))):
                return False
            for field, check_field in nested:
                value = get(field)
                if value is not None and not check_field(value):
                    return False
            return True

        self.records[name] = check
        return check

    def _items(self, items: Any, values_of: Callable[[Any], Any]) -> Check | None:
        if _is_integer(items):
            return lambda value: _EXACT.issuperset(map(type, values_of(value)))
        inner = self.check_for(items)
        if inner is None:
            return None
        return lambda value: all(map(inner, values_of(value)))

    def _union(self, branches: list[Any]) -> Check | None:
        non_null = [branch for branch in branches if branch != "null"]
        if len(non_null) == 1:  # nullable: None never reaches the check
            return self.check_for(non_null[0])
        by_name = {self._name(branch): self.check_for(branch) for branch in non_null}
        if all(check is None for check in by_name.values()):
            return None

        def check(value: Any) -> bool:
            if isinstance(value, tuple) and len(value) == 2:  # (full name, record): the branch is known
                inner = by_name.get(value[0])
                return inner is None or inner(value[1])
            return False  # which branch a plain value takes is for the slow check to work out

        return check

    def _name(self, branch: Any) -> str:
        if isinstance(branch, str):
            return branch
        return str(branch.get("name", branch.get("type")))


def _is_integer(schema: Any) -> bool:
    """int, long, their nullable forms, and {"type": "long", ...}."""
    if isinstance(schema, str):
        return schema in _INTEGER_TYPES
    if isinstance(schema, list):
        non_null = [branch for branch in schema if branch != "null"]
        return len(non_null) == 1 and _is_integer(non_null[0])
    return schema.get("type") in _INTEGER_TYPES
