"""Kill switches, circuit breakers, trading states, cancels and amends."""

from __future__ import annotations

import pytest
from _risk_builders import (
    ACCOUNT,
    SYMBOL,
    T0,
    P,
    Q,
    S,
    amend,
    as_event,
    breaker,
    breakers,
    cancel,
    check,
    decide,
    decisions,
    fill,
    kill_switch,
    limits,
    new_order,
    order_event,
    run,
    trade,
    trading_state_set,
)

from processors.core import Emit
from processors.risk import RiskConfig, RiskCore
from schemas.names import CANCEL_ORDER
from topics.catalogue import CONTROL_EVENTS

# -- kill switch ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "target"),
    [("GLOBAL", None), ("ACCOUNT", ACCOUNT), ("SYMBOL", SYMBOL)],
    ids=["global", "account", "symbol"],
)
def test_kill_switch_stops_the_very_next_order_and_clearing_it_lets_the_next_pass(
    scope: str, target: str | None
) -> None:
    core = RiskCore()
    assert decide(core, new_order("o-1"))["approved"] is True
    assert run(core, kill_switch(scope, target)) == []
    denied = decide(core, new_order("o-2"))
    assert (denied["approved"], denied["reason"]) == (False, "KILL_SWITCH")
    assert scope in check(denied, "KILL_SWITCH")["detail"]
    run(core, kill_switch(scope, target, active=False))
    assert decide(core, new_order("o-3"))["approved"] is True


def test_kill_switch_for_another_account_or_symbol_does_not_stop_the_order() -> None:
    core = RiskCore()
    run(core, kill_switch("ACCOUNT", "someone-else"), kill_switch("SYMBOL", "ETHUSDT"))
    assert decide(core, new_order())["approved"] is True
    assert decide(core, new_order("o-2", symbol="ETHUSDT"))["reason"] == "KILL_SWITCH"


def test_kill_switch_with_cancel_open_orders_emits_approved_cancels_for_each_open_order() -> None:
    core = RiskCore()
    run(core, new_order("o-1"), new_order("o-2", symbol="ETHUSDT"), new_order("o-3"), new_order("x-1", account="acc-2"))
    run(core, order_event("o-3", "CANCELLED", "CANCELLED"))  # no longer working
    switch = kill_switch("ACCOUNT", ACCOUNT, cancel_open_orders=True)
    cancels = decisions(run(core, switch))
    assert [(d["account"], d["order_id"], d["command_type"], d["approved"]) for d in cancels] == [
        (ACCOUNT, "o-1", "CANCEL", True),
        (ACCOUNT, "o-2", "CANCEL", True),
    ]
    for decision in cancels:
        schema, command = decision["command"]
        assert schema == CANCEL_ORDER
        assert (command["account"], command["order_id"], command["symbol"]) == (
            ACCOUNT,
            decision["order_id"],
            decision["symbol"],
        )
        assert decision["meta"]["causation_id"] == command["meta"]["event_id"]
        assert command["meta"]["causation_id"] == switch.record["meta"]["event_id"]
    assert len({d["meta"]["event_id"] for d in cancels} | {d["command"][1]["meta"]["event_id"] for d in cancels}) == 4
    assert decide(core, new_order("o-4"))["reason"] == "KILL_SWITCH"


def test_symbol_kill_switch_cancels_only_that_symbols_orders_of_every_account() -> None:
    core = RiskCore()
    run(core, new_order("o-1"), new_order("o-2", symbol="ETHUSDT"), new_order("x-1", account="acc-2"))
    cancels = decisions(run(core, kill_switch("SYMBOL", SYMBOL, cancel_open_orders=True)))
    assert [(d["account"], d["order_id"]) for d in cancels] == [(ACCOUNT, "o-1"), ("acc-2", "x-1")]


def test_broadcast_inputs_change_no_account_state() -> None:
    core = RiskCore()
    run(core, new_order("o-1"))
    core.state_changes()
    run(
        core,
        kill_switch("GLOBAL", None, cancel_open_orders=True),
        trading_state_set("HALTED"),
        breaker("SYMBOL", SYMBOL),
    )
    assert core.state_changes() == {}


# -- trading state --------------------------------------------------------------------------------------


def test_order_while_halted_is_denied_with_trading_halted() -> None:
    core = RiskCore()
    run(core, trading_state_set("HALTED"))
    decision = decide(core, new_order())
    assert (decision["approved"], decision["reason"]) == (False, "TRADING_HALTED")
    run(core, trading_state_set("ACTIVE"))
    assert decide(core, new_order("o-2"))["approved"] is True


def test_increasing_order_while_reduce_only_is_denied_with_reduce_only() -> None:
    core = RiskCore()
    run(core, fill("f-1", side="BUY", quantity=5 * Q, price=100 * P), trading_state_set("REDUCE_ONLY"))
    increasing = decide(core, new_order("o-1", side="BUY"))
    assert (increasing["approved"], increasing["reason"]) == (False, "REDUCE_ONLY")
    assert decide(core, new_order("o-2", side="SELL", quantity=3 * Q))["approved"] is True
    # with o-2 working, a further sell of 3 could flip the long 5 to short 1: not reducing
    flipping = decide(core, new_order("o-3", side="SELL", quantity=3 * Q))
    assert flipping["reason"] == "REDUCE_ONLY"
    assert decide(core, new_order("o-4", side="SELL", quantity=2 * Q))["approved"] is True


def test_reduce_only_denies_everything_when_flat() -> None:
    core = RiskCore()
    run(core, trading_state_set("REDUCE_ONLY"))
    assert decide(core, new_order(side="SELL"))["reason"] == "REDUCE_ONLY"


# -- circuit breaker ------------------------------------------------------------------------------------


def _reject_storm(core: RiskCore, count: int, t: int) -> list[Emit]:
    return run(core, *[new_order(f"big-{t}-{i}", quantity=5_000 * Q, t=t + i) for i in range(count)])


def test_circuit_breaker_trips_after_n_rejects_and_resets_after_the_cool_down_with_both_events() -> None:
    config = RiskConfig(breaker_trip_count=3, breaker_window_us=10 * S, breaker_cool_down_us=30 * S)
    core = RiskCore(config)
    assert breakers(_reject_storm(core, 2, T0)) == []
    emits = _reject_storm(core, 1, T0 + 5 * S)
    (tripped,) = breakers(emits)
    assert (tripped["scope"], tripped["target"], tripped["state"], tripped["trading_state"]) == (
        "ACCOUNT",
        ACCOUNT,
        "TRIPPED",
        "HALTED",
    )
    assert (tripped["trigger_count"], tripped["window_us"], tripped["cool_down_until_us"]) == (3, 10 * S, T0 + 35 * S)
    (emit,) = [e for e in emits if e.topic == CONTROL_EVENTS]
    assert emit.key == f"ACCOUNT:{ACCOUNT}"

    during = decide(core, new_order("o-1", t=T0 + 35 * S - 1))
    assert (during["approved"], during["reason"]) == (False, "CIRCUIT_BREAKER")
    after = run(core, new_order("o-2", t=T0 + 35 * S))
    (reset,) = breakers(after)
    assert (reset["state"], reset["trading_state"], reset["cool_down_until_us"]) == ("RESET", "ACTIVE", None)
    (decision,) = decisions(after)
    assert decision["approved"] is True
    assert reset["meta"]["event_id"] != decision["meta"]["event_id"]


def test_rejects_outside_the_window_do_not_trip_the_breaker() -> None:
    core = RiskCore(RiskConfig(breaker_trip_count=3, breaker_window_us=10 * S))
    assert breakers(_reject_storm(core, 2, T0)) == []
    assert breakers(_reject_storm(core, 2, T0 + 11 * S)) == []
    assert len(breakers(_reject_storm(core, 1, T0 + 12 * S))) == 1


def test_venue_rejects_count_towards_the_breaker() -> None:
    core = RiskCore(RiskConfig(breaker_trip_count=2))
    run(core, new_order("o-1"), new_order("o-2"))
    assert breakers(run(core, order_event("o-1", "REJECTED", "REJECTED"))) == []
    assert len(breakers(run(core, order_event("o-2", "REJECTED", "REJECTED", t=T0 + 1)))) == 1
    assert decide(core, new_order("o-3", t=T0 + 2))["reason"] == "CIRCUIT_BREAKER"


def test_own_circuit_breaker_event_coming_back_is_a_no_op() -> None:
    core = RiskCore(RiskConfig(breaker_trip_count=1, breaker_cool_down_us=10 * S))
    emits = _reject_storm(core, 1, T0)
    (trip,) = [e for e in emits if e.topic == CONTROL_EVENTS]
    core.state_changes()
    assert core.apply(as_event(trip)) == []
    assert core.apply(as_event(trip)) == []
    assert core.state_changes() == {}
    after = run(core, new_order("o-1", t=T0 + 10 * S))
    (reset,) = [e for e in after if e.topic == CONTROL_EVENTS]
    assert core.apply(as_event(reset)) == []
    assert decide(core, new_order("o-2", t=T0 + 10 * S + 1))["approved"] is True


def test_breaker_tripped_by_another_producer_applies_to_its_scope_until_reset() -> None:
    core = RiskCore()
    run(core, breaker("SYMBOL", SYMBOL, until=T0 + S))
    assert decide(core, new_order("o-1"))["reason"] == "CIRCUIT_BREAKER"
    assert decide(core, new_order("o-2", symbol="ETHUSDT"))["approved"] is True
    assert decide(core, new_order("o-3", t=T0 + S))["approved"] is True  # cooled down
    run(core, breaker("SYMBOL", SYMBOL), breaker("SYMBOL", SYMBOL, "RESET", trading_state="ACTIVE"))
    assert decide(core, new_order("o-4", t=T0 + S))["approved"] is True


# -- cancels and amends ---------------------------------------------------------------------------------


def test_cancels_are_always_approved_even_under_kill_switch_halt_and_breaker() -> None:
    core = RiskCore(RiskConfig(breaker_trip_count=1))
    run(core, new_order("o-1"))
    _reject_storm(core, 1, T0)
    run(core, kill_switch("GLOBAL", None), trading_state_set("HALTED"))
    decision = decide(core, cancel("o-1", t=T0 + 1))
    assert (decision["approved"], decision["command_type"], decision["checks"]) == (True, "CANCEL", [])
    assert decision["symbol"] == SYMBOL  # known from the working order
    unknown = decide(core, cancel("nope", t=T0 + 2))
    assert (unknown["approved"], unknown["symbol"]) == (True, None)


def test_amends_are_rechecked_with_the_new_values() -> None:
    core = RiskCore()
    run(core, limits(max_position_quantity=10 * Q, price_collar_bps=500), new_order("o-1", quantity=4 * Q))
    too_big = decide(core, amend("o-1", quantity=11 * Q))
    assert (too_big["approved"], too_big["reason"], too_big["command_type"]) == (False, "POSITION_LIMIT", "AMEND")
    assert [r["check"] for r in too_big["checks"]] == ["ORDER_QUANTITY", "ORDER_NOTIONAL", "POSITION", "PRICE_COLLAR"]
    assert check(too_big, "POSITION")["observed"] == 11 * Q
    assert check(too_big, "ORDER_NOTIONAL")["observed"] == 1_100 * 10**8
    run(core, trade(100 * P))
    assert decide(core, amend("o-1", price=110 * P))["reason"] == "PRICE_COLLAR"
    assert decide(core, amend("o-1", quantity=10 * Q, price=104 * P))["approved"] is True


def test_approved_amend_counts_at_once_until_the_oms_answers() -> None:
    core = RiskCore()
    run(core, limits(max_position_quantity=10 * Q), new_order("o-1", quantity=4 * Q))
    assert decide(core, amend("o-1", quantity=8 * Q))["approved"] is True
    assert decide(core, new_order("o-2", quantity=3 * Q))["reason"] == "POSITION_LIMIT"
    run(core, order_event("o-1", "REPLACE_REJECTED", "NEW", quantity=4 * Q))
    assert decide(core, new_order("o-3", quantity=3 * Q))["approved"] is True


def test_amend_of_an_unknown_order_is_passed_to_the_oms() -> None:
    decision = decide(RiskCore(), amend("nope", quantity=1 * Q))
    assert (decision["approved"], decision["checks"], decision["symbol"]) == (True, [], None)
