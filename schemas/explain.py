"""Precise explanations of why a record does not match its schema, for EncodeError messages.

fastavro's own errors are terse ("'FOO' is not in list") and do not say where in the record they happened;
this walks the schema and the record to name the first offending field. It runs only after an encode
failed, so it may be slow.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsIndex, cast

from schemas.canonical import PRIMITIVES

_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def explain_mismatch(schema: Any, record: object, error: Exception) -> str:
    """The first mismatch found between `record` and the fastavro-parsed `schema`, else fastavro's error."""
    named: Mapping[str, Any] = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    problem = first_problem(schema, record, named)
    return problem or f"{type(error).__name__}: {error}"


def first_problem(schema: Any, datum: object, named: Mapping[str, Any], path: str = "") -> str | None:
    """None when `datum` matches `schema`, else what is wrong and where (e.g. "meta.event_id: missing")."""
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return _primitive_problem(schema, datum, path)
        return first_problem(named[schema], datum, named, path)
    if isinstance(schema, list):
        return _union_problem(schema, datum, named, path)
    check = _COMPLEX_PROBLEMS.get(schema["type"])
    if check is None:
        return first_problem(schema["type"], datum, named, path)  # {"type": "long"} and the like
    return check(schema, datum, named, path)


def _record_problem(schema: Mapping[str, Any], datum: object, named: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(datum, Mapping):
        return _wrong_type(path, f"a {schema['name']} record (dict)", datum)
    names = {field["name"] for field in schema["fields"]}
    if unexpected := sorted(str(key) for key in datum if key not in names):
        return f"{_at(path)}unexpected field(s) {', '.join(unexpected)} (not in {schema['name']})"
    for field in schema["fields"]:
        where = f"{path}.{field['name']}" if path else field["name"]
        if field["name"] not in datum:
            if "default" in field:
                continue
            return f"{where}: missing (required, no default)"
        if problem := first_problem(field["type"], datum[field["name"]], named, where):
            return problem
    return None


def _enum_problem(schema: Mapping[str, Any], datum: object, _named: Mapping[str, Any], path: str) -> str | None:
    if datum in schema["symbols"]:
        return None
    symbols = ", ".join(schema["symbols"])
    return f"{_at(path)}{datum!r} is not a symbol of {schema['name']} ({symbols})"


def _array_problem(schema: Mapping[str, Any], datum: object, named: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(datum, Sequence) or isinstance(datum, str | bytes):
        return _wrong_type(path, "an array (list)", datum)
    for index, item in enumerate(datum):
        if problem := first_problem(schema["items"], item, named, f"{path}[{index}]"):
            return problem
    return None


def _map_problem(schema: Mapping[str, Any], datum: object, named: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(datum, Mapping):
        return _wrong_type(path, "a map (dict with str keys)", datum)
    for key, value in datum.items():
        if not isinstance(key, str):
            return f"{_at(path)}map keys must be str, found {key!r}"
        if problem := first_problem(schema["values"], value, named, f"{path}[{key!r}]"):
            return problem
    return None


def _fixed_problem(schema: Mapping[str, Any], datum: object, _named: Mapping[str, Any], path: str) -> str | None:
    if isinstance(datum, bytes) and len(datum) == schema["size"]:
        return None
    return _wrong_type(path, f"{schema['size']} bytes", datum)


_ProblemOf = Callable[[Mapping[str, Any], object, Mapping[str, Any], str], str | None]
# The complex types by their "type"; any other "type" names a primitive or a named type.
_COMPLEX_PROBLEMS: dict[str, _ProblemOf] = {
    "record": _record_problem,
    "enum": _enum_problem,
    "array": _array_problem,
    "map": _map_problem,
    "fixed": _fixed_problem,
}


def _union_problem(branches: list[Any], datum: object, named: Mapping[str, Any], path: str) -> str | None:
    names = [_type_name(branch) for branch in branches]
    if isinstance(datum, tuple) and len(datum) == 2 and isinstance(datum[0], str):  # (full name, record)
        if datum[0] not in names:
            return f"{_at(path)}{datum[0]!r} is not one of the union's types ({', '.join(names)})"
        return first_problem(branches[names.index(datum[0])], datum[1], named, path)
    problems = [first_problem(branch, datum, named, path) for branch in branches]
    if None in problems:
        return None
    if len(branches) == 2 and branches[0] == "null":  # a nullable field: the value's own problem is clearer
        return problems[1]
    return f"{_at(path)}{datum!r:.80} matches none of the union's types ({', '.join(names)})"


def _type_name(schema: Any) -> str:
    """ "long", "shrivenquant.common.Side", "array", ...: how a union branch is named in a message."""
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return str(schema.get("name", schema["type"]))


def _primitive_problem(kind: str, datum: object, path: str) -> str | None:
    if kind in _INT_RANGES:
        # Integers only: fastavro would silently truncate a float or Decimal (numpy ints are fine).
        if isinstance(datum, bool) or not hasattr(type(datum), "__index__"):
            return _wrong_type(
                path, f"{kind} (an int: amounts are fixed-point, see schemas.scales; times integer microseconds)", datum
            )
        low, high = _INT_RANGES[kind]
        value = operator.index(cast(SupportsIndex, datum))
        return None if low <= value <= high else f"{_at(path)}{value} is out of range for an Avro {kind}"
    expected: dict[str, tuple[type, ...]] = {
        "null": (type(None),),
        "boolean": (bool,),
        "float": (int, float),
        "double": (int, float),
        "string": (str,),
        "bytes": (bytes, bytearray, memoryview),
    }
    if isinstance(datum, expected[kind]) and not (kind in ("float", "double") and isinstance(datum, bool)):
        return None
    return _wrong_type(path, kind, datum)


def _wrong_type(path: str, expected: str, datum: object) -> str:
    return f"{_at(path)}expected {expected}, got {type(datum).__name__} {datum!r:.80}"


def _at(path: str) -> str:
    return f"{path}: " if path else ""
