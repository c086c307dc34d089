"""schemas/types.py and schemas/names.py are generated from the .avsc files and must match them."""

from __future__ import annotations

import typing

from schemas import names, types
from schemas.canonical import named_definitions
from schemas.generate_types import NAMES_PATH, TYPES_PATH, constant_name, main, render_names, render_types
from schemas.registry import SchemaRegistry

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
