"""schemas/types.py and schemas/names.py are generated from the .avsc files and must match them; code names a
schema by its schemas.names constant, never by a string of its own."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from schemas import names, types
from schemas.canonical import named_definitions
from schemas.generate_types import NAMES_PATH, TYPES_PATH, constant_name, main, render_names, render_types
from schemas.registry import SchemaRegistry
from settings import PROJECT_ROOT

REGISTRY = SchemaRegistry.load()


def test_committed_types_file_is_current() -> None:
    assert TYPES_PATH.read_text(encoding="utf-8") == render_types(REGISTRY), (
        "schemas/types.py is stale: run `python -m schemas.generate_types`"
    )
    assert NAMES_PATH.read_text(encoding="utf-8") == render_names(REGISTRY), (
        "schemas/names.py is stale: run `python -m schemas.generate_types`"
    )
    assert main(["--check"]) == 0


def test_typed_dicts_have_the_schema_fields_in_order() -> None:
    for schema in REGISTRY.current.values():
        typed = getattr(types, schema.short_name)
        if schema.definition["type"] == "record":
            assert list(typed.__annotations__) == [field["name"] for field in schema.definition["fields"]]
        else:
            assert list(typing.get_args(typed)) == schema.definition["symbols"]


def test_nullable_fields_are_optional() -> None:
    hints = typing.get_type_hints(types.OrderEvent)
    assert hints["price"] == int | None
    assert hints["liquidity"] == types.Liquidity | None
    assert hints["quantity"] is int


def _full_names() -> set[str]:
    return {found.full_name for schema in REGISTRY.current.values() for found in named_definitions(schema.definition)}


def test_every_schema_name_has_one_constant() -> None:
    constants = {name: value for name, value in vars(names).items() if name.isupper()}
    assert sorted(constants.values()) == sorted(_full_names())
    assert all(name == constant_name(value.rpartition(".")[2]) for name, value in constants.items())
    assert constant_name("TradingStateSet") == "TRADING_STATE_SET"


# Not switched to schemas.names yet, by their owners: the runtime, sq and their tests (being rewritten), the
# order book processor and its tests, the topic catalogue; and the generated files themselves.
_NOT_YET: tuple[str, ...] = (
    "schemas/names.py",
    "schemas/types.py",
)
_SOURCES = (
    "api",
    "bench",
    "connectors",
    "deploy",
    "infra",
    "processors",
    "replay",
    "schemas",
    "settings",
    "sq",
    "tests",
    "topics",
)


def _literal_names(path: Path, full_names: set[str]) -> list[str]:
    """``line: name`` of every string constant in ``path`` that is exactly a schema full name (docstrings aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"{node.lineno}: {node.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in full_names and id(node) not in docstrings
    ]


def test_code_names_schemas_by_their_constants() -> None:
    full_names = _full_names()
    found = {}
    for source in _SOURCES:
        for path in sorted((PROJECT_ROOT / source).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if relative.startswith(_NOT_YET):
                continue
            if spelled := _literal_names(path, full_names):
                found[relative] = spelled
    assert not found, f"schema names spelled out instead of a schemas.names constant: {found}"
