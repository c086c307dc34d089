"""NewOrder decisions: an order sent to the venue, a denial, an invalid order, a duplicate; never two orders."""

from __future__ import annotations

from typing import Any

import pytest
from _oms_builders import (
    ACCOUNT,
    SYMBOL,
    T0,
    P,
    Q,
    decision,
    new_order,
    oid,
    order_events,
    placed,
    run,
    types,
    venue_orders,
)

from processors.core import Event, derived_meta
from processors.oms import OmsConfig, OmsCore
from processors.risk import RiskCore
from schemas.names import NEW_ORDER
from topics.catalogue import ORDERS_COMMANDS, ORDERS_EVENTS, VENUE_ORDERS


def test_approved_new_order_becomes_pending_new_and_goes_to_the_venue_with_its_decision_id() -> None:
    core = OmsCore()
    command = new_order("c-1", quantity=3 * Q, price=101 * P, parent_order_id="parent-9", reduce_only=True)
    event = decision(command)
    emits = run(core, event)
    assert [(emit.topic, emit.key) for emit in emits] == [(ORDERS_EVENTS, ACCOUNT), (VENUE_ORDERS, SYMBOL)]
    (created,) = order_events(emits)
    assert created["meta"] == derived_meta(event, "oms", 0)
    assert created | {"meta": None, "detail": ""} == {
        "meta": None,
        "account": ACCOUNT,
        "order_id": oid("c-1"),
        "client_order_id": "c-1",
        "symbol": SYMBOL,
        "side": "BUY",
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "event_type": "PENDING_NEW",
        "status": "PENDING_NEW",
        "version": 1,
        "quantity": 3 * Q,
        "price": 101 * P,
        "stop_price": None,
        "cum_quantity": 0,
        "leaves_quantity": 3 * Q,
        "avg_price": None,
        "last_quantity": 0,
        "last_price": None,
        "fee": 0,
        "fill_id": None,
        "liquidity": None,
        "reject_reason": None,
        "detail": "",
        "post_only": False,
        "reduce_only": True,
        "expire_time_us": None,
        "venue": "sim",
        "parent_order_id": "parent-9",
        "command_id": command[1]["meta"]["event_id"],
    }
    (sent,) = venue_orders(emits)
    assert sent["meta"] == derived_meta(event, "oms", 1)
    assert sent | {"meta": None} == {
        "meta": None,
        "venue": "sim",
        "symbol": SYMBOL,
        "account": ACCOUNT,
        "order_id": oid("c-1"),
        "parent_order_id": "parent-9",
        "action": "NEW",
        "side": "BUY",
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "quantity": 3 * Q,
        "price": 101 * P,
        "stop_price": None,
        "post_only": False,
        "expire_time_us": None,
        "risk_decision_id": event.record["meta"]["event_id"],
    }


def test_order_naming_a_venue_is_routed_there_and_others_to_the_configured_default() -> None:
    core = OmsCore(OmsConfig(default_venue="paper"))
    routed = run(core, decision(new_order("c-1", venue="binance-futures")), decision(new_order("c-2")))
    assert [order["venue"] for order in venue_orders(routed)] == ["binance-futures", "paper"]
    assert [event["venue"] for event in order_events(routed)] == ["binance-futures", "paper"]


@pytest.mark.parametrize(
    ("order_type", "tif", "terms"),
    [
        ("MARKET", "IOC", {"price": None}),
        ("LIMIT", "FOK", {}),
        ("LIMIT", "DAY", {"post_only": True}),
        ("STOP", "GTC", {"price": None, "stop_price": 95 * P}),
        ("STOP_LIMIT", "GTD", {"price": 94 * P, "stop_price": 95 * P, "expire_time_us": T0 + 60_000_000}),
    ],
)
def test_every_order_type_and_time_in_force_is_carried_to_the_venue(
    order_type: str, tif: str, terms: dict[str, Any]
) -> None:
    core = OmsCore()
    emits = run(core, decision(new_order("c-1", order_type=order_type, time_in_force=tif, **terms)))
    (created,) = order_events(emits)
    (sent,) = venue_orders(emits)
    assert created["status"] == "PENDING_NEW"
    for field in ("order_type", "time_in_force", "price", "stop_price", "expire_time_us", "post_only"):
        assert created[field] == sent[field] == new_order(order_type=order_type, time_in_force=tif, **terms)[1][field]


@pytest.mark.parametrize(
    ("terms", "why"),
    [
        ({"quantity": 0}, "quantity must be positive"),
        ({"quantity": -5 * Q}, "quantity must be positive"),
        ({"price": None}, "LIMIT needs a positive price"),
        ({"order_type": "STOP_LIMIT", "stop_price": None}, "STOP_LIMIT needs a positive stop price"),
        ({"order_type": "STOP", "price": None}, "STOP needs a positive stop price"),
        ({"time_in_force": "GTD"}, "GTD needs an expire time"),
        ({"order_type": "MARKET", "price": None, "post_only": True}, "post-only is only for LIMIT orders"),
    ],
)
def test_invalid_approved_order_is_rejected_with_invalid_order_and_never_sent(terms: dict[str, Any], why: str) -> None:
    core = OmsCore()
    command = new_order("c-1", **terms)
    emits = run(core, decision(command))
    assert venue_orders(emits) == []
    (rejected,) = order_events(emits)
    assert (rejected["event_type"], rejected["status"], rejected["reject_reason"]) == (
        "REJECTED",
        "REJECTED",
        "INVALID_ORDER",
    )
    assert rejected["detail"].startswith(why)
    assert rejected["leaves_quantity"] == 0
    assert rejected["command_id"] == command[1]["meta"]["event_id"]


def test_denied_new_order_is_denied_with_risk_reason_as_its_one_terminal_outcome() -> None:
    core = OmsCore()
    command = new_order("c-1")
    emits = run(core, decision(command, approved=False, reason="KILL_SWITCH"))
    assert venue_orders(emits) == []
    (denied,) = order_events(emits)
    assert (denied["event_type"], denied["status"], denied["reject_reason"]) == ("DENIED", "REJECTED", "KILL_SWITCH")
    assert denied["detail"] == "denied: KILL_SWITCH"
    assert denied["command_id"] == command[1]["meta"]["event_id"]
    assert denied["leaves_quantity"] == 0


def test_same_client_order_id_twice_yields_one_order_and_a_duplicate_reject() -> None:
    core = OmsCore()
    order_id, _ = placed(core, "c-1", quantity=2 * Q)
    again = new_order("c-1", quantity=7 * Q)
    emits = run(core, decision(again))
    assert venue_orders(emits) == []
    (duplicate,) = order_events(emits)
    assert (duplicate["event_type"], duplicate["reject_reason"]) == ("DUPLICATE_REJECTED", "DUPLICATE_CLIENT_ORDER_ID")
    # It describes the existing order, not the resubmitted terms.
    assert (duplicate["order_id"], duplicate["status"], duplicate["quantity"], duplicate["version"]) == (
        order_id,
        "PENDING_NEW",
        2 * Q,
        1,
    )
    assert duplicate["command_id"] == again[1]["meta"]["event_id"]
    order = core.order(ACCOUNT, order_id)
    assert order is not None and order["quantity"] == 2 * Q


def test_client_order_id_reused_under_another_order_id_is_still_a_duplicate() -> None:
    core = OmsCore()
    order_id, _ = placed(core, "c-1")
    emits = run(core, decision(new_order("c-1", order_id="forged-id")))
    assert types(emits) == [("DUPLICATE_REJECTED", "PENDING_NEW")]
    assert order_events(emits)[0]["order_id"] == order_id
    assert core.order(ACCOUNT, "forged-id") is None


def test_client_order_id_of_a_denied_order_cannot_be_reused() -> None:
    core = OmsCore()
    run(core, decision(new_order("c-1"), approved=False, reason="RATE_LIMIT"))
    assert types(run(core, decision(new_order("c-1")))) == [("DUPLICATE_REJECTED", "REJECTED")]


def test_denied_duplicate_is_still_answered_as_a_duplicate() -> None:
    core = OmsCore()
    placed(core, "c-1")
    emits = run(core, decision(new_order("c-1"), approved=False, reason="MAX_OPEN_ORDERS"))
    assert types(emits) == [("DUPLICATE_REJECTED", "PENDING_NEW")]


def test_same_command_delivered_twice_has_its_outcome_once() -> None:
    core = OmsCore()
    command = new_order("c-1")
    first = run(core, decision(command))
    assert len(order_events(first)) == 1
    assert run(core, decision(command)) == []


def test_client_order_ids_are_per_account() -> None:
    core = OmsCore()
    emits = run(core, decision(new_order("c-1")), decision(new_order("c-1", account="acc-2")))
    assert types(emits) == [("PENDING_NEW", "PENDING_NEW"), ("PENDING_NEW", "PENDING_NEW")]
    assert [event["account"] for event in order_events(emits)] == [ACCOUNT, "acc-2"]


def test_decision_emitted_by_the_risk_core_creates_the_order() -> None:
    risk = RiskCore()
    client_order_id = "c-from-risk"
    _, record = new_order(client_order_id)
    (risk_emit,) = risk.apply(Event(ORDERS_COMMANDS, ACCOUNT, NEW_ORDER, record, T0))
    decided = Event(risk_emit.topic, risk_emit.key, risk_emit.schema, risk_emit.record, T0)
    emits = run(OmsCore(), decided)
    assert types(emits) == [("PENDING_NEW", "PENDING_NEW")]
    assert venue_orders(emits)[0]["risk_decision_id"] == risk_emit.record["meta"]["event_id"]
    assert order_events(emits)[0]["command_id"] == record["meta"]["event_id"]


def test_event_of_a_schema_the_oms_does_not_take_is_refused() -> None:
    _, record = new_order("c-1")
    with pytest.raises(ValueError, match=r"oms does not take shrivenquant\.orders\.NewOrder"):
        OmsCore().apply(Event(ORDERS_COMMANDS, ACCOUNT, NEW_ORDER, record, T0))
