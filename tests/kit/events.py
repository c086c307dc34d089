"""Builders of events: event meta, the order commands and order events the cores on the order path read, a
trade print, a runner that checks every emitted record encodes, and readers of emits.

The per-processor builder modules (``_risk_builders``, ``_oms_builders``, ...) shape these for their core.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from processors.core import Core, Emit, Event
from schemas.codec import default_codec
from schemas.names import ORDER_EVENT, TRADE
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE
from schemas.statuses import TERMINAL_STATUSES
from topics.catalogue import MD_TRADES, ORDERS_COMMANDS, ORDERS_EVENTS

Q = QUANTITY_SCALE
P = PRICE_SCALE
C = CASH_SCALE
T0 = 1_735_689_600_000_000 + 12 * 3_600_000_000  # 2025-01-01T12:00:00Z, a whole second
MS = 1_000
S = 1_000_000
ACCOUNT = "acc-1"
SYMBOL = "BTCUSDT"

_ids = itertools.count(1)  # one counter for every builder, so ids never repeat within a test run


def next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def meta(
    t: int = T0, producer: str = "test", correlation_id: str | None = None, *, event_id: str | None = None
) -> dict[str, Any]:
    """Event meta at ``t``; an event without a correlation id starts its own story."""
    event_id = event_id or next_id("evt")
    return {
        "event_id": event_id,
        "producer": producer,
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": correlation_id or event_id,
    }


def command(schema: str, record: dict[str, Any]) -> Event:
    """An order command as the cores read it from orders.commands, keyed by its account."""
    return Event(ORDERS_COMMANDS, record["account"], schema, record, record["meta"]["ingest_time_us"])


def new_order_record(
    order_id: str, client_order_id: str, /, *, t: int = T0, account: str = ACCOUNT, **terms: Any
) -> dict[str, Any]:
    """A NewOrder (a 1-lot GTC limit buy at 100 unless ``terms`` say otherwise)."""
    record: dict[str, Any] = {
        "meta": meta(t, "api"),
        "account": account,
        "order_id": order_id,
        "client_order_id": client_order_id,
        "symbol": SYMBOL,
        "side": "BUY",
        "order_type": "LIMIT",
        "quantity": 1 * Q,
        "price": 100 * P,
        "stop_price": None,
        "time_in_force": "GTC",
        "expire_time_us": None,
        "post_only": False,
        "reduce_only": False,
        "venue": None,
        "parent_order_id": None,
        "execution": None,
    }
    record.update(terms)
    return record


def cancel_record(order_id: str, *, t: int = T0, account: str = ACCOUNT, symbol: str | None = None) -> dict[str, Any]:
    return {"meta": meta(t, "api"), "account": account, "order_id": order_id, "symbol": symbol}


def amend_record(
    order_id: str,
    *,
    quantity: int | None = None,
    price: int | None = None,
    stop_price: int | None = None,
    t: int = T0,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    return {
        "meta": meta(t, "api"),
        "account": account,
        "order_id": order_id,
        "quantity": quantity,
        "price": price,
        "stop_price": stop_price,
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
    price: int | None = 100 * P,
    cum: int = 0,
    leaves: int | None = None,
    last_quantity: int = 0,
    last_price: int | None = None,
    fee: int = 0,
    fill_id: str | None = None,
    liquidity: str | None = None,
) -> Event:
    """An OrderEvent as the OMS publishes it; leaves default to what is left of a working order."""
    if leaves is None:
        leaves = 0 if status in TERMINAL_STATUSES else quantity - cum
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
        "fill_id": fill_id,
        "liquidity": liquidity,
        "reject_reason": None,
        "detail": "",
        "post_only": False,
        "reduce_only": False,
        "expire_time_us": None,
        "venue": "sim",
        "parent_order_id": None,
        "command_id": None,
    }
    return Event(ORDERS_EVENTS, account, ORDER_EVENT, record, t)


def trade(
    price: int,
    quantity: int = 1 * Q,
    aggressor: str | None = None,
    *,
    t: int = T0,
    symbol: str = SYMBOL,
    venue: str = "sim",
    producer: str = "connector.sim",
) -> Event:
    """A trade print on md.trades, keyed by its symbol."""
    record = {
        "meta": meta(t, producer),
        "venue": venue,
        "symbol": symbol,
        "trade_id": next_id("tr"),
        "price": price,
        "quantity": quantity,
        "aggressor": aggressor,
    }
    return Event(MD_TRADES, symbol, TRADE, record, t)


def as_event(emit: Emit) -> Event:
    """An emitted record as the event a reader of its topic would get (e.g. a core's own output coming back)."""
    return Event(emit.topic, emit.key, emit.schema, emit.record, emit.record["meta"]["ingest_time_us"])


def run(core: Core, *events: Event) -> list[Emit]:
    """Apply events in order; every emitted record must encode with its Avro schema."""
    emits: list[Emit] = []
    codec = default_codec()
    for event in events:
        for emit in core.apply(event):
            codec.encode(emit.schema, emit.record)
            emits.append(emit)
    return emits


def records_to(emits: Iterable[Emit], topic: str) -> list[dict[str, Any]]:
    """The records emitted to ``topic``, in order."""
    return [emit.record for emit in emits if emit.topic == topic]


def records_of(emits: Iterable[Emit], schema: str) -> list[dict[str, Any]]:
    """The records of one schema, in order."""
    return [emit.record for emit in emits if emit.schema == schema]


def changed_state(core: Core, key: str) -> dict[str, Any]:
    """What ``core.state_changes()`` hands the changelog for ``key``, which must have changed and still exist."""
    state = core.state_changes()[key]
    assert state is not None, f"the state of {key} is gone"
    return state
