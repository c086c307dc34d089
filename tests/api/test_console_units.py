"""control_view: the kill switches in force, each breaker's latest state and the history, per account seen."""

from __future__ import annotations

from typing import Any

from api.control_view import control_state
from api.kafka_reads import RecentRecord
from schemas.examples import example_event
from schemas.names import CIRCUIT_BREAKER, KILL_SWITCH, TRADING_STATE_SET

_offsets = iter(range(1_000))


def _record(schema: str, **fields: Any) -> RecentRecord:
    return RecentRecord(0, next(_offsets), 0, schema, example_event(schema, **fields))


def _switch(scope: str, target: str | None, active: bool) -> RecentRecord:
    return _record(KILL_SWITCH, scope=scope, target=target, active=active)


def test_the_latest_record_of_each_switch_and_breaker_decides_its_state() -> None:
    records = [
        _switch("ACCOUNT", "A", True),
        _switch("GLOBAL", None, True),
        _switch("ACCOUNT", "A", False),
        _switch("SYMBOL", "BTCUSDT", True),
        _record(CIRCUIT_BREAKER, scope="ACCOUNT", target="A", state="TRIPPED"),
        _record(CIRCUIT_BREAKER, scope="ACCOUNT", target="A", state="RESET"),
        _record(TRADING_STATE_SET),  # not a switch or a breaker: not shown
    ]
    state = control_state(records, None, history=10)
    assert [(s["scope"], s["target"]) for s in state["kill_switches"]] == [("global", None), ("symbol", "BTCUSDT")]
    assert [(b["target"], b["state"]) for b in state["breakers"]] == [("A", "RESET")]
    assert len(state["history"]) == 6 and state["history"][0]["state"] == "RESET"  # newest first
    assert len(control_state(records, None, history=2)["history"]) == 2


def test_a_key_sees_its_accounts_controls_and_the_global_and_symbol_ones() -> None:
    records = [_switch("ACCOUNT", "A", True), _switch("ACCOUNT", "B", True), _switch("SYMBOL", "ETHUSDT", True)]
    seen = control_state(records, frozenset({"A"}), history=10)
    assert [(s["scope"], s["target"]) for s in seen["kill_switches"]] == [("account", "A"), ("symbol", "ETHUSDT")]
    assert all(h["target"] != "B" for h in seen["history"])
