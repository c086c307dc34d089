"""Bad bytes and bad records fail with DecodeError/EncodeError naming what was wrong, never a raw error."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from schemas.codec import default_codec
from schemas.errors import DecodeError, EncodeError, SerializationError
from schemas.examples import example_event
from schemas.names import DEPTH_UPDATE, MARKET_ANALYTICS, NEW_ORDER, RISK_DECISION, RISK_LIMITS, TRADE

CODEC = default_codec()
GOOD = CODEC.encode(TRADE, example_event(TRADE))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty value"),
        (b"\x00\x01" + GOOD[2:], "expected marker c301, found 0001"),
        (b'{"price": 1}', "expected marker c301, found 7b22"),
        (b"\xc3", "truncated header: 1 bytes, need 10"),
        (GOOD[:7], "truncated header: 7 bytes, need 10"),
        (GOOD[:10], f"truncated body: {TRADE} needs more than the 0 body bytes given"),
        (GOOD[:-3], f"truncated body: {TRADE} needs more than the {len(GOOD) - 13} body bytes given"),
        (b"\xc3\x01" + bytes(8) + GOOD[10:], "unknown writer schema fingerprint 0000000000000000"),
        (b"\xc3\x01" + bytes.fromhex("0123456789abcdef") + GOOD[10:], "fingerprint 0123456789abcdef"),
        (GOOD[:10] + b"\x02\xff" + GOOD[12:], f"body does not parse as {TRADE}: UnicodeDecodeError"),
        (GOOD + b"\x00\x00", f"2 unexpected bytes after the {TRADE} record"),
    ],
    ids=[
        "empty",
        "wrong-magic",
        "json",
        "one-byte",
        "truncated-header",
        "header-only",
        "truncated-body",
        "unknown-fingerprint",
        "unknown-fingerprint-hex",
        "garbage-body",
        "trailing-bytes",
    ],
)
def test_decode_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.decode(data)
    assert fragment in str(caught.value)


def test_every_truncation_of_every_example_is_a_decode_error() -> None:
    for name in CODEC.event_schema_names():
        data = CODEC.encode(name, example_event(name))
        for end in range(len(data)):
            with pytest.raises(DecodeError):
                CODEC.decode(data[:end])


def test_decode_as_another_schema_is_refused() -> None:
    with pytest.raises(DecodeError, match=re.escape(f"the record is a {TRADE}, not a {NEW_ORDER}")):
        CODEC.decode(GOOD, reader=NEW_ORDER)
    with pytest.raises(DecodeError, match=re.escape("unknown schema 'Trade'; did you mean 'shrivenquant.md.Trade'")):
        CODEC.decode(GOOD, reader="Trade")


def order(**changes: Any) -> dict[str, Any]:
    return example_event(NEW_ORDER, **changes)


def without(record: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != field}


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (without(order(), "account"), "account: missing (required, no default)"),
        (order(account=None), "account: expected string, got NoneType"),
        (order(symbol=5), "symbol: expected string, got int 5"),
        (order(side="LONG"), "side: 'LONG' is not a symbol of shrivenquant.common.Side (BUY, SELL)"),
        (order(quantity="1.5"), "quantity: expected long"),
        (order(quantity=2**63), "quantity: 9223372036854775808 is out of range for an Avro long"),
        ({**order(), "acount": "x"}, "unexpected field(s) acount (not in shrivenquant.orders.NewOrder)"),
        (order(meta={**order()["meta"], "event_id": 1}), "meta.event_id: expected string"),
        (order(execution={"algo": "TWAP", "params": {"k": 1}}), "execution.params['k']: expected string"),
        ("not a record", "expected a shrivenquant.orders.NewOrder record (dict)"),
    ],
    ids=[
        "missing",
        "null",
        "wrong-type",
        "bad-symbol",
        "string-amount",
        "overflow",
        "unknown-field",
        "nested",
        "map-value",
        "not-a-dict",
    ],
)
def test_encode_errors_name_the_field(record: Any, fragment: str) -> None:
    with pytest.raises(EncodeError) as caught:
        CODEC.encode(NEW_ORDER, record)
    assert str(caught.value).startswith(f"{NEW_ORDER}: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize("inexact", [64250.5, 64250.0, Decimal("64250.5"), True])
@pytest.mark.parametrize("where", ["price", "meta.event_time_us", "execution.display_quantity"])
def test_floats_and_decimals_are_never_truncated_into_integer_fields(inexact: object, where: str) -> None:
    record = order()
    target = record
    *parents, field = where.split(".")
    for parent in parents:
        target[parent] = dict(target[parent])
        target = target[parent]
    target[field] = inexact
    with pytest.raises(EncodeError, match=f"{where}: expected (long|int)"):
        CODEC.encode(NEW_ORDER, record)


def test_floats_in_arrays_maps_and_record_unions_are_refused() -> None:
    depth = example_event(DEPTH_UPDATE, bids=[{"price": 1.5, "quantity": 1}])
    with pytest.raises(EncodeError, match=r"bids\[0\]\.price: expected long"):
        CODEC.encode(DEPTH_UPDATE, depth)
    limits = example_event(RISK_LIMITS, reference_prices={"BTCUSDT": 1.5})
    with pytest.raises(EncodeError, match=r"reference_prices\['BTCUSDT'\]: expected long"):
        CODEC.encode(RISK_LIMITS, limits)
    decision = example_event(RISK_DECISION)
    decision["command"] = (NEW_ORDER, order(quantity=0.5))
    with pytest.raises(EncodeError, match=re.escape("command.quantity: expected long")):
        CODEC.encode(RISK_DECISION, decision)


def test_doubles_stay_allowed_where_the_schema_says_double() -> None:
    analytics = example_event(MARKET_ANALYTICS, mid=64250, spread=0.25)
    assert CODEC.decode(CODEC.encode(MARKET_ANALYTICS, analytics)).record["mid"] == 64250


def test_numpy_style_integers_are_accepted() -> None:
    class Int64Like:  # stands in for numpy.int64: an exact integer that is not an int
        def __init__(self, value: int) -> None:
            self.value = value

        def __index__(self) -> int:
            return self.value

        def __int__(self) -> int:
            return self.value

    record = order(quantity=Int64Like(1_500_000))
    assert CODEC.decode(CODEC.encode(NEW_ORDER, record)).record["quantity"] == 1_500_000


def test_unknown_schema_names() -> None:
    with pytest.raises(
        EncodeError, match=re.escape("unknown schema 'NewOrder'; did you mean 'shrivenquant.orders.NewOrder'")
    ):
        CODEC.encode("NewOrder", order())
    with pytest.raises(EncodeError, match=re.escape("unknown schema 'shrivenquant.orders.Nope'")):
        CODEC.encode("shrivenquant.orders.Nope", order())


def test_one_error_hierarchy() -> None:
    assert issubclass(EncodeError, SerializationError)
    assert issubclass(DecodeError, SerializationError)
