"""Builders of the events the portfolio core takes, and a runner that checks every emitted record encodes."""

from __future__ import annotations

import itertools
from typing import Any

from processors.core import Emit, Event
from processors.portfolio.core import PortfolioCore
from schemas.codec import default_codec
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE
from topics.catalogue import MD_TRADES, ORDERS_EVENTS

Q = QUANTITY_SCALE
P = PRICE_SCALE
C = CASH_SCALE
T0 = 1_735_689_600_000_000 + 12 * 3_600_000_000  # 2025-01-01T12:00:00Z
ACCOUNT = "acc-1"
SYMBOL = "BTCUSDT"
TERMINAL = {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"}

_ids = itertools.count(1)


def meta(t: int, producer: str) -> dict[str, Any]:
    event_id = f"evt-{next(_ids)}"
    return {
        "event_id": event_id,
        "producer": producer,
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": f"corr-{event_id}",
    }


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
    cum: int = 0,
    last_quantity: int = 0,
    last_price: int | None = None,
    fee: int = 0,
    fill_id: str | None = None,
) -> Event:
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
        "price": last_price,
        "stop_price": None,
        "cum_quantity": cum,
        "leaves_quantity": 0 if status in TERMINAL else quantity - cum,
        "avg_price": last_price,
        "last_quantity": last_quantity,
        "last_price": last_price,
        "fee": fee,
        "fill_id": fill_id,
        "liquidity": "TAKER" if last_quantity else None,
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
    side: str,
    quantity: int,
    price: int,
    *,
    fee: int = 0,
    order_quantity: int | None = None,
    cum: int | None = None,
    fill_id: str | None = None,
    account: str = ACCOUNT,
    symbol: str = SYMBOL,
    t: int = T0,
) -> Event:
    """A fill event: by default the one fill completing an order of ``quantity``; a partial fill when the
    order (``order_quantity``) is larger than ``cum``."""
    total = quantity if order_quantity is None else order_quantity
    cum = quantity if cum is None else cum
    status = "FILLED" if cum == total else "PARTIALLY_FILLED"
    return order_event(
        order_id,
        status,
        status,
        t=t,
        account=account,
        symbol=symbol,
        side=side,
        quantity=total,
        cum=cum,
        last_quantity=quantity,
        last_price=price,
        fee=fee,
        fill_id=fill_id or f"fill-{order_id}-{cum}",
    )


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


def run(core: PortfolioCore, *events: Event) -> list[Emit]:
    """Apply events in order; every emitted record must encode with its Avro schema."""
    emits: list[Emit] = []
    codec = default_codec()
    for event in events:
        for emit in core.apply(event):
            codec.encode(emit.schema, emit.record)
            emits.append(emit)
    return emits


def records(emits: list[Emit]) -> list[dict[str, Any]]:
    return [emit.record for emit in emits]


def one(core: PortfolioCore, event: Event) -> dict[str, Any]:
    """The one Position record an event publishes."""
    emits = run(core, event)
    assert len(emits) == 1, emits
    return emits[0].record


def without_meta(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name != "meta"}
