"""Builders of the events the risk core takes, and readers of what it emits (shared by the risk tests)."""

from __future__ import annotations

import itertools
from typing import Any

from processors.core import Emit, Event
from processors.risk.core import RiskCore
from schemas.codec import default_codec
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE
from topics.catalogue import CONTROL_EVENTS, MD_TRADES, ORDERS_COMMANDS, ORDERS_EVENTS, RISK_DECISIONS, RISK_LIMITS

Q = QUANTITY_SCALE
P = PRICE_SCALE
C = CASH_SCALE
T0 = 1_735_689_600_000_000 + 12 * 3_600_000_000  # 2025-01-01T12:00:00Z
MS = 1_000
S = 1_000_000
ACCOUNT = "acc-1"
SYMBOL = "BTCUSDT"

_ids = itertools.count(1)


def meta(t: int, producer: str = "test", correlation_id: str | None = None) -> dict[str, Any]:
    event_id = f"evt-{next(_ids)}"
    return {
        "event_id": event_id,
        "producer": producer,
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": correlation_id or event_id,
    }


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
    record = {
        "meta": meta(t, "api"),
        "account": account,
        "order_id": order_id,
        "client_order_id": f"cl-{order_id}",
        "symbol": symbol,
        "side": side,
        "order_type": order_type,
        "quantity": quantity,
        "price": price,
        "stop_price": stop_price,
        "time_in_force": "GTC",
        "expire_time_us": None,
        "post_only": False,
        "reduce_only": False,
        "venue": None,
        "parent_order_id": None,
        "execution": None,
    }
    return Event(ORDERS_COMMANDS, account, "shrivenquant.orders.NewOrder", record, t)


def cancel(order_id: str = "o-1", *, t: int = T0, account: str = ACCOUNT, symbol: str | None = None) -> Event:
    record = {"meta": meta(t, "api"), "account": account, "order_id": order_id, "symbol": symbol}
    return Event(ORDERS_COMMANDS, account, "shrivenquant.orders.CancelOrder", record, t)


def amend(
    order_id: str = "o-1", *, t: int = T0, account: str = ACCOUNT, quantity: int | None = None, price: int | None = None
) -> Event:
    record = {
        "meta": meta(t, "api"),
        "account": account,
        "order_id": order_id,
        "quantity": quantity,
        "price": price,
        "stop_price": None,
    }
    return Event(ORDERS_COMMANDS, account, "shrivenquant.orders.AmendOrder", record, t)


def order_event(
    order_id: str,
    event_type: str,
    status: str,
    *,
    t: int = T0,
    account: str = ACCOUNT,
    symbol: str = SYMBOL,
    side: str = "BUY",
    quantity: int = 1 * Q,
    price: int | None = 100 * P,
    cum: int = 0,
    leaves: int | None = None,
    last_quantity: int = 0,
    last_price: int | None = None,
    fee: int = 0,
) -> Event:
    if leaves is None:
        leaves = 0 if status in {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"} else quantity - cum
    record = {
        "meta": meta(t, "oms"),
        "account": account,
        "order_id": order_id,
        "client_order_id": f"cl-{order_id}",
        "symbol": symbol,
        "side": side,
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "event_type": event_type,
        "status": status,
        "version": 1,
        "quantity": quantity,
        "price": price,
        "stop_price": None,
        "cum_quantity": cum,
        "leaves_quantity": leaves,
        "avg_price": last_price,
        "last_quantity": last_quantity,
        "last_price": last_price,
        "fee": fee,
        "fill_id": f"f-{next(_ids)}" if last_quantity else None,
        "liquidity": None,
        "reject_reason": None,
        "detail": "",
        "post_only": False,
        "reduce_only": False,
        "expire_time_us": None,
        "venue": "sim",
        "parent_order_id": None,
        "command_id": None,
    }
    return Event(ORDERS_EVENTS, account, "shrivenquant.orders.OrderEvent", record, t)


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
    return Event(RISK_LIMITS, account, "shrivenquant.risk.RiskLimits", record, t)


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
    return Event(CONTROL_EVENTS, key, "shrivenquant.control.KillSwitch", record, t)


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
    return Event(CONTROL_EVENTS, f"{scope}:{target}", "shrivenquant.control.CircuitBreaker", record, t)


def trading_state_set(state: str, *, account: str = ACCOUNT, t: int = T0) -> Event:
    record = {"meta": meta(t, "ops"), "account": account, "trading_state": state, "actor": "operator", "detail": "test"}
    return Event(CONTROL_EVENTS, f"ACCOUNT:{account}", "shrivenquant.control.TradingStateSet", record, t)


def trade(price: int, *, symbol: str = SYMBOL, t: int = T0) -> Event:
    record = {
        "meta": meta(t, "connector.sim"),
        "venue": "sim",
        "symbol": symbol,
        "trade_id": f"tr-{next(_ids)}",
        "price": price,
        "quantity": 1 * Q,
        "aggressor": None,
    }
    return Event(MD_TRADES, symbol, "shrivenquant.md.Trade", record, t)


def as_event(emit: Emit) -> Event:
    """An emitted record as the event a reader of its topic would get (e.g. risk's own breaker coming back)."""
    return Event(emit.topic, emit.key, emit.schema, emit.record, emit.record["meta"]["ingest_time_us"])


def run(core: RiskCore, *events: Event) -> list[Emit]:
    """Apply events in order; every emitted record must encode with its Avro schema."""
    emits: list[Emit] = []
    codec = default_codec()
    for event in events:
        for emit in core.apply(event):
            codec.encode(emit.schema, emit.record)
            emits.append(emit)
    return emits


def decisions(emits: list[Emit]) -> list[dict[str, Any]]:
    return [emit.record for emit in emits if emit.topic == RISK_DECISIONS]


def decide(core: RiskCore, event: Event) -> dict[str, Any]:
    """The one decision on one command."""
    found = decisions(run(core, event))
    assert len(found) == 1, found
    return found[0]


def breakers(emits: list[Emit]) -> list[dict[str, Any]]:
    return [emit.record for emit in emits if emit.schema == "shrivenquant.control.CircuitBreaker"]


def check(decision: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [result for result in decision["checks"] if result["check"] == name]
    return found
