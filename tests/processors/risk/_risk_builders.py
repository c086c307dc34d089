"""Builders of the events the risk core takes, and readers of what it emits (shared by the risk tests)."""

from __future__ import annotations

from typing import Any

from processors.core import Emit, Event
from processors.risk.core import RiskCore
from schemas.names import AMEND_ORDER, CANCEL_ORDER, CIRCUIT_BREAKER, KILL_SWITCH, NEW_ORDER, TRADING_STATE_SET
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from tests.kit.events import (
    ACCOUNT,
    MS,
    SYMBOL,
    T0,
    C,
    P,
    Q,
    S,
    amend_record,
    as_event,
    cancel_record,
    command,
    meta,
    new_order_record,
    next_id,
    records_of,
    records_to,
    run,
    trade,
)
from tests.kit.events import order_event as _order_event
from topics.catalogue import CONTROL_EVENTS, RISK_DECISIONS, RISK_LIMITS

# The risk tests import the shared builders through this module too.
__all__ = [
    "ACCOUNT",
    "MS",
    "SYMBOL",
    "T0",
    "C",
    "P",
    "Q",
    "S",
    "amend",
    "as_event",
    "breaker",
    "breakers",
    "cancel",
    "check",
    "decide",
    "decisions",
    "fill",
    "kill_switch",
    "limits",
    "meta",
    "new_order",
    "order_event",
    "run",
    "trade",
    "trading_state_set",
]


def new_order(
    order_id: str = "o-1",
    *,
    t: int = T0,
    account: str = ACCOUNT,
    symbol: str = SYMBOL,
    side: str = "BUY",
    quantity: int = 1 * Q,
    price: int | None = 100 * P,
    order_type: str = "LIMIT",
    stop_price: int | None = None,
) -> Event:
    terms = {"symbol": symbol, "side": side, "quantity": quantity, "price": price, "order_type": order_type}
    return command(
        NEW_ORDER, new_order_record(order_id, f"cl-{order_id}", t=t, account=account, stop_price=stop_price, **terms)
    )


def cancel(order_id: str = "o-1", *, t: int = T0, account: str = ACCOUNT, symbol: str | None = None) -> Event:
    return command(CANCEL_ORDER, cancel_record(order_id, t=t, account=account, symbol=symbol))


def amend(
    order_id: str = "o-1", *, t: int = T0, account: str = ACCOUNT, quantity: int | None = None, price: int | None = None
) -> Event:
    return command(AMEND_ORDER, amend_record(order_id, t=t, account=account, quantity=quantity, price=price))


def order_event(order_id: str, event_type: str, status: str, *, last_quantity: int = 0, **fields: Any) -> Event:
    """An OrderEvent (see ``events.order_event``); a fill gets a fresh fill id."""
    fill_id = next_id("f") if last_quantity else None
    return _order_event(order_id, event_type, status, last_quantity=last_quantity, fill_id=fill_id, **fields)


def fill(
    order_id: str,
    *,
    side: str,
    quantity: int,
    price: int,
    t: int = T0,
    fee: int = 0,
    symbol: str = SYMBOL,
    account: str = ACCOUNT,
) -> Event:
    """A fill completing an order of exactly ``quantity``."""
    return order_event(
        order_id,
        "FILLED",
        "FILLED",
        t=t,
        account=account,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        cum=quantity,
        last_quantity=quantity,
        last_price=price,
        fee=fee,
    )


def limits(*, t: int = T0, account: str = ACCOUNT, **overrides: Any) -> Event:
    record: dict[str, Any] = {
        "meta": meta(t, "ops"),
        "account": account,
        "allowed_symbols": [],
        "max_order_quantity": 1_000 * Q,
        "max_order_notional": 10_000_000 * C,
        "max_position_quantity": 10_000 * Q,
        "max_open_orders": 200,
        "orders_per_second": 1_000,
        "order_burst": 2_000,
        "price_collar_bps": 1_000,
        "daily_loss_limit": 1_000_000 * C,
        "reference_prices": {},
    }
    record.update(overrides)
    return Event(RISK_LIMITS, account, RISK_LIMITS_SCHEMA, record, t)


def kill_switch(
    scope: str, target: str | None, *, active: bool = True, cancel_open_orders: bool = False, t: int = T0
) -> Event:
    record = {
        "meta": meta(t, "ops"),
        "scope": scope,
        "target": target,
        "active": active,
        "cancel_open_orders": cancel_open_orders,
        "actor": "operator",
        "detail": "test",
    }
    key = "GLOBAL" if scope == "GLOBAL" else f"{scope}:{target}"
    return Event(CONTROL_EVENTS, key, KILL_SWITCH, record, t)


def breaker(
    scope: str,
    target: str,
    state: str = "TRIPPED",
    *,
    trading_state: str = "HALTED",
    until: int | None = None,
    t: int = T0,
    producer: str = "md-monitor",
) -> Event:
    record = {
        "meta": meta(t, producer),
        "scope": scope,
        "target": target,
        "state": state,
        "trading_state": trading_state,
        "trigger_count": 1,
        "window_us": S,
        "cool_down_until_us": until,
        "detail": "test",
    }
    return Event(CONTROL_EVENTS, f"{scope}:{target}", CIRCUIT_BREAKER, record, t)


def trading_state_set(state: str, *, account: str = ACCOUNT, t: int = T0) -> Event:
    record = {"meta": meta(t, "ops"), "account": account, "trading_state": state, "actor": "operator", "detail": "test"}
    return Event(CONTROL_EVENTS, f"ACCOUNT:{account}", TRADING_STATE_SET, record, t)


def decisions(emits: list[Emit]) -> list[dict[str, Any]]:
    return records_to(emits, RISK_DECISIONS)


def decide(core: RiskCore, event: Event) -> dict[str, Any]:
    """The one decision on one command."""
    found = decisions(run(core, event))
    assert len(found) == 1, found
    return found[0]


def breakers(emits: list[Emit]) -> list[dict[str, Any]]:
    return records_of(emits, CIRCUIT_BREAKER)


def check(decision: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [result for result in decision["checks"] if result["check"] == name]
    (only,) = found
    return only
