"""Unit tests: request bodies → Avro records, exact at the fixed-point scales, valid for the codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from api import commands
from api.commands import Origin
from api.models import KillSwitchCreate, OrderCreate, OrderUpdate, RiskLimitsUpdate
from processors.core import order_id_for
from processors.risk.limits import DEFAULT_LIMITS
from schemas.codec import default_codec
from schemas.names import AMEND_ORDER, CANCEL_ORDER, KILL_SWITCH, NEW_ORDER, RISK_LIMITS
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE

ORIGIN = Origin("evt-1", 1_767_225_600_123_456)
LIMIT = {"account": "A1", "symbol": "BTCUSDT", "side": "buy", "type": "limit", "quantity": "0.015", "price": "60000.5"}


def _errors(body: dict[str, Any], model: type[BaseModel] = OrderCreate) -> list[ErrorDetails]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return caught.value.errors()


def test_new_order_record_is_exact_and_encodes() -> None:
    body = OrderCreate.model_validate({**LIMIT, "quantity": "0.00000001", "client_order_id": "c-1"})
    record = commands.new_order(body, "c-1", ORIGIN)
    assert record["quantity"] == 1
    assert record["price"] == 60_000 * PRICE_SCALE + PRICE_SCALE // 2
    assert record["order_id"] == order_id_for("A1", "c-1")
    assert (record["side"], record["order_type"], record["time_in_force"]) == ("BUY", "LIMIT", "GTC")
    assert record["meta"] == {
        "event_id": "evt-1",
        "producer": "api",
        "event_time_us": ORIGIN.now_us,
        "ingest_time_us": ORIGIN.now_us,
        "causation_id": None,
        "correlation_id": "evt-1",
    }
    default_codec().encode(NEW_ORDER, record)


@given(units=st.integers(min_value=1, max_value=9 * 10**10), decimals=st.integers(min_value=0, max_value=8))
def test_any_decimal_string_within_the_scale_converts_exactly(units: int, decimals: int) -> None:
    text = format(Decimal(units).scaleb(-decimals), "f")
    body = OrderCreate.model_validate({**LIMIT, "quantity": text})
    assert commands.new_order(body, "c", ORIGIN)["quantity"] == units * 10 ** (8 - decimals)


@pytest.mark.parametrize("quantity", ["0.000000001", "1.123456789", "0.0000000001"])
def test_a_quantity_finer_than_the_scale_is_refused_naming_the_field(quantity: str) -> None:
    [error] = _errors({**LIMIT, "quantity": quantity})
    assert error["loc"] == ("quantity",)
    assert "more than 8 decimal places" in error["msg"]


@pytest.mark.parametrize("value", [0.5, 1, "-1", "0", "1e-3", "NaN", " 1", "1,5", ""])
def test_prices_that_are_numbers_negative_zero_or_not_plain_decimals_are_refused(value: object) -> None:
    [error] = _errors({**LIMIT, "price": value})
    assert error["loc"] == ("price",)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"price": None}, "price is required"),
        ({"type": "market"}, "price must be absent"),
        ({"type": "stop_limit"}, "stop_price is required"),
        ({"time_in_force": "gtd"}, "expire_time is required"),
        ({"type": "market", "price": None, "post_only": True}, "post_only applies to limit"),
        ({"prise": "1"}, "Extra inputs are not permitted"),
        ({"side": "BUY"}, "Input should be 'buy' or 'sell'"),
    ],
)
def test_inconsistent_orders_are_refused_with_the_reason(changes: dict[str, Any], reason: str) -> None:
    body = {k: v for k, v in {**LIMIT, **changes}.items() if v is not None}
    assert any(reason in e["msg"] for e in _errors(body))


def test_gtd_expiry_is_converted_to_exact_microseconds() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 0, 654_321, tzinfo=timezone(timedelta(hours=2)))
    body = OrderCreate.model_validate({**LIMIT, "time_in_force": "gtd", "expire_time": moment.isoformat()})
    record = commands.new_order(body, "c", ORIGIN)
    assert record["expire_time_us"] == int(moment.timestamp()) * 1_000_000 + 654_321
    assert commands.micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    default_codec().encode(NEW_ORDER, record)


def test_naive_expiry_is_refused() -> None:
    [error] = _errors({**LIMIT, "time_in_force": "gtd", "expire_time": "2026-03-01T12:00:00"})
    assert "time zone" in error["msg"]


def test_cancel_and_amend_records_encode_and_join_the_order_story() -> None:
    cancel = commands.cancel_order("A1", "o-1", "BTCUSDT", ORIGIN, correlation_id="story-1")
    amend = commands.amend_order("A1", "o-1", OrderUpdate(quantity="2"), ORIGIN, correlation_id="story-1")
    assert cancel["meta"]["correlation_id"] == amend["meta"]["correlation_id"] == "story-1"
    assert (amend["quantity"], amend["price"], amend["stop_price"]) == (2 * QUANTITY_SCALE, None, None)
    default_codec().encode(CANCEL_ORDER, cancel)
    default_codec().encode(AMEND_ORDER, amend)


def test_an_empty_amendment_is_refused() -> None:
    assert "at least one" in _errors({}, OrderUpdate)[0]["msg"]


def test_kill_switch_record_and_its_control_key() -> None:
    body = KillSwitchCreate(scope="account", target="A1", cancel_open_orders=True, reason="runaway")
    record = commands.engage_kill_switch(body, "key:abc", ORIGIN)
    assert (record["scope"], record["target"], record["active"], record["actor"]) == ("ACCOUNT", "A1", True, "key:abc")
    assert commands.control_key("account", "A1") == "ACCOUNT:A1"
    assert commands.control_key("global", None) == "GLOBAL"
    default_codec().encode(KILL_SWITCH, record)


@pytest.mark.parametrize("body", [{"scope": "global", "target": "A1"}, {"scope": "symbol"}])
def test_kill_switch_scope_and_target_must_agree(body: dict[str, Any]) -> None:
    assert _errors(body, KillSwitchCreate)


def test_limits_left_out_take_the_documented_defaults() -> None:
    body = RiskLimitsUpdate.model_validate({"max_order_quantity": "5", "reference_prices": {"BTCUSDT": "60000"}})
    record = commands.risk_limits("A1", body, ORIGIN)
    defaults = DEFAULT_LIMITS.as_record()
    assert record["max_order_quantity"] == 5 * QUANTITY_SCALE
    assert record["reference_prices"] == {"BTCUSDT": 60_000 * PRICE_SCALE}
    assert record["max_open_orders"] == defaults["max_open_orders"]
    assert record["daily_loss_limit"] == defaults["daily_loss_limit"]
    default_codec().encode(RISK_LIMITS, record)


def test_an_algo_order_carries_its_execution_instruction_exactly() -> None:
    body = OrderCreate.model_validate(
        {
            **LIMIT,
            "execution": {
                "algo": "peg",
                "start_time": "2026-01-01T00:00:00Z",
                "end_time": "2026-01-01T01:00:00.5Z",
                "display_quantity": "0.005",
                "peg_offset": "-0.25",
                "params": {"urgency": "low"},
            },
        }
    )
    record = commands.new_order(body, "c", ORIGIN)
    assert record["execution"] == {
        "algo": "PEG",
        "start_time_us": 1_767_225_600_000_000,
        "end_time_us": 1_767_229_200_500_000,
        "participation_bps": None,
        "display_quantity": QUANTITY_SCALE // 200,
        "peg_offset": -PRICE_SCALE // 4,
        "params": {"urgency": "low"},
    }
    default_codec().encode(NEW_ORDER, record)


def test_an_execution_window_that_ends_before_it_starts_is_refused() -> None:
    execution = {"algo": "twap", "start_time": "2026-01-01T01:00:00Z", "end_time": "2026-01-01T00:00:00Z"}
    assert any("end_time must be after" in e["msg"] for e in _errors({**LIMIT, "execution": execution}))
