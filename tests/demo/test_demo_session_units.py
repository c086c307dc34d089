"""The demo's pure parts: flow records → JSON bodies the API turns back into the same records, and the
projection checks that decide when the demo has caught up and what its summary counts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api import commands
from api.models import OrderCreate, OrderUpdate, RiskLimitsUpdate
from connectors.order_flow import FlowConfig, OrderFlow
from deploy.demo_session import (
    Expected,
    Projection,
    SessionStats,
    amend_body,
    demo_account,
    expected_from_log,
    limits_body,
    order_body,
    summary,
)
from schemas.names import AMEND_ORDER, NEW_ORDER

ORIGIN = commands.Origin(event_id="e-1", now_us=1)


def _without_meta(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "meta"}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_flow_orders_as_json_become_the_same_commands_or_are_refused_as_invalid(seed: int) -> None:
    flow = OrderFlow(FlowConfig(orders=60, seed=seed, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT")))
    for command in flow.commands():
        if command.schema == NEW_ORDER:
            record = command.record
            body = order_body(record, record["account"])
            invalid = record["quantity"] == 0 or (record["order_type"] == "LIMIT" and record["price"] is None)
            if invalid:
                with pytest.raises(ValidationError):
                    OrderCreate(**body)
                continue
            sent = commands.new_order(OrderCreate(**body), body["client_order_id"], ORIGIN)
            assert _without_meta(sent) == _without_meta(record)
        elif command.schema == AMEND_ORDER:
            record = command.record
            sent = commands.amend_order(
                record["account"], record["order_id"], OrderUpdate(**amend_body(record)), ORIGIN
            )
            assert _without_meta(sent) == _without_meta(record)


def test_flow_limits_as_json_become_the_same_limits() -> None:
    for limits in OrderFlow(FlowConfig(orders=1, symbols=("BTCUSDT", "SOLUSDT"))).limits():
        sent = commands.risk_limits(limits.key, RiskLimitsUpdate(**limits_body(limits.record)), ORIGIN)
        assert _without_meta(sent) == _without_meta(limits.record)


def test_demo_accounts_carry_the_run_id() -> None:
    assert demo_account("demo-1a2b3c", "ACC-001") == "demo-1a2b3c-ACC-001"


def _event(account: str, order_id: str, version: int, fill_id: str | None = None) -> dict[str, Any]:
    return {"account": account, "order_id": order_id, "version": version, "fill_id": fill_id}


def _position(account: str, symbol: str, version: int) -> dict[str, Any]:
    return {"account": account, "symbol": symbol, "version": version}


def test_expected_keeps_the_runs_accounts_latest_versions_and_fills() -> None:
    events = [_event("A", "o1", 1), _event("A", "o1", 3, "f1"), _event("A", "o1", 2), _event("B", "o2", 1, "f2")]
    positions = [_position("A", "X", 1), _position("A", "X", 2), _position("B", "X", 5)]
    expected = expected_from_log(events, positions, {"A"})
    assert expected == Expected({"o1": 3}, frozenset({("o1", "f1")}), {("A", "X"): 2})


def _projection(order_version: int, fills: int, position_version: int) -> Projection:
    return Projection(
        orders=[{"order_id": "o1", "version": order_version}],
        fills=[{"order_id": "o1", "fill_id": f"f{n}"} for n in range(1, fills + 1)],
        positions=[{"account": "A", "symbol": "X", "version": position_version}],
    )


def test_projection_shows_the_log_only_when_orders_fills_and_positions_all_caught_up() -> None:
    expected = Expected({"o1": 3}, frozenset({("o1", "f1")}), {("A", "X"): 2})
    assert _projection(3, 1, 2).shows(expected)
    assert not _projection(2, 1, 2).shows(expected)  # the order's last event not projected yet
    assert not _projection(3, 0, 2).shows(expected)  # the fill not yet
    assert not _projection(3, 1, 1).shows(expected)  # the position one version behind


def _order(order_id: str, account: str, status: str, reason: str | None = None) -> dict[str, Any]:
    return {"order_id": order_id, "account": account, "status": status, "last_reason": reason}


def test_summary_counts_rejected_orders_by_reason_and_the_kill_switch_denials() -> None:
    orders = [
        _order("o1", "A", "FILLED"),
        _order("o2", "A", "REJECTED", "KILL_SWITCH"),  # sent under the switch
        _order("o3", "A", "NEW", "KILL_SWITCH"),  # an amend refused under the switch: the order lives on
        _order("o4", "B", "REJECTED", "KILL_SWITCH"),  # another account's switch (not this session's episode)
        _order("o5", "B", "REJECTED", "PRICE_COLLAR"),
    ]
    stats = SessionStats(placed=5, kill_switch_account="A", kill_switch_orders=["o2", "o3"])
    document = summary(Projection(orders, [{"order_id": "o1", "fill_id": "f"}], []), stats)
    assert document["orders"] == 5 and document["fills"] == 1 and document["positions"] == 0
    assert document["rejects"] == {"KILL_SWITCH": 2, "PRICE_COLLAR": 1}  # rejected orders only
    assert document["orders_by_status"] == {"FILLED": 1, "NEW": 1, "REJECTED": 3}
    assert document["kill_switch"] == {"account": "A", "orders_sent": 2, "denied": 1}
