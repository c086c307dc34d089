"""schemas/types.py is generated from the .avsc files and must match them."""

from __future__ import annotations

import typing

from schemas import types
from schemas.generate_types import TYPES_PATH, main, render_types
from schemas.registry import SchemaRegistry

REGISTRY = SchemaRegistry.load()


def test_committed_types_file_is_current() -> None:
    assert TYPES_PATH.read_text(encoding="utf-8") == render_types(REGISTRY), (
        "schemas/types.py is stale: run `python -m schemas.generate_types`"
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
