"""Builders for the router tests: the whole order path (router included) in the memory engine, a market with
depth to fill children against, clock ticks, and parents with execution instructions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from processors.core import Emit, Event, order_id_for
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.registry import core_class
from schemas.codec import default_codec
from schemas.names import BOOK_TOP, CLOCK_TICK, KILL_SWITCH, MARKET_ANALYTICS, NEW_ORDER
from schemas.statuses import TERMINAL_STATUSES
from tests.kit.books import Levels, depth_levels, depth_snapshot
from tests.kit.events import ACCOUNT, SYMBOL, T0, P, Q, S, command, meta, new_order_record, trade
from topics.catalogue import (
    CLOCK_TICKS,
    CONTROL_EVENTS,
    MD_ANALYTICS,
    MD_BOOK_TOP,
    ORDERS_CHILD_COMMANDS,
    ORDERS_EVENTS,
    RISK_DECISIONS,
)

MARKET_PRICE = 100 * P


def engine(*, codec: bool = True) -> MemoryEngine:
    """The single stage's pipeline (risk, OMS, router, venue, portfolio), every hand-off through Avro bytes."""
    return MemoryEngine(
        [core_class(name) for name in ORDER_PATH], name="orderpath", codec=default_codec() if codec else None
    )


def deep_book(t: int = T0, depth: int = 1_000 * Q) -> list[Event]:
    """A market with plenty on both sides (bids at 99, asks at 101) and a last trade at 100 (risk's reference)."""
    return [depth_snapshot(1, [(99 * P, depth)], [(101 * P, depth)], t=t), trade(MARKET_PRICE, Q, t=t)]


def tick(t: int) -> Event:
    record = {"meta": meta(t, "ticker"), "source": "test", "interval_us": S}
    return Event(CLOCK_TICKS, "test", CLOCK_TICK, record, t)


def ticks(start: int, end: int, every: int = S) -> list[Event]:
    return [tick(t) for t in range(start, end + 1, every)]


def book_top(sequence: int, bids: Levels, asks: Levels, *, t: int, stale: bool = False) -> Event:
    """The order book's view of the symbol (best levels first), as the router reads it from md.book.top."""
    bid, ask = next(iter(bids), (None, None)), next(iter(asks), (None, None))
    record = {
        "meta": meta(t, "orderbook"),
        "venue": "sim",
        "symbol": SYMBOL,
        "sequence": sequence,
        "bid_price": bid[0],
        "bid_quantity": bid[1],
        "ask_price": ask[0],
        "ask_quantity": ask[1],
        "bids": depth_levels(bids),
        "asks": depth_levels(asks),
        "stale": stale,
    }
    return Event(MD_BOOK_TOP, SYMBOL, BOOK_TOP, record, t)


def market(sequence: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]], *, t: int) -> list[Event]:
    """The same book as the venue fills against (md.depth) and as the router sees it (md.book.top)."""
    return [depth_snapshot(sequence, bids, asks, t=t), book_top(sequence, bids, asks, t=t)]


def analytics(realized_volatility: float | None, *, t: int) -> Event:
    """The order book stage's analytics of the symbol for the window ending at ``t`` (md.analytics)."""
    record = {
        "meta": meta(t, "orderbook"),
        "venue": "sim",
        "symbol": SYMBOL,
        "window_end_us": t,
        "spread": None,
        "mid": None,
        "microprice": None,
        "depth_imbalance": None,
        "realized_volatility": realized_volatility,
        "trade_flow_imbalance": None,
        "vpin": None,
        "kyle_lambda": None,
        "kyle_lambda_t": None,
        "pin": None,
    }
    return Event(MD_ANALYTICS, SYMBOL, MARKET_ANALYTICS, record, t)


def kill_switch(*, cancel_open_orders: bool, t: int, account: str = ACCOUNT) -> Event:
    record = {
        "meta": meta(t, "ops"),
        "scope": "ACCOUNT",
        "target": account,
        "active": True,
        "cancel_open_orders": cancel_open_orders,
        "actor": "operator",
        "detail": "test",
    }
    return Event(CONTROL_EVENTS, f"ACCOUNT:{account}", KILL_SWITCH, record, t)


def instruction(algo: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "algo": algo,
        "start_time_us": None,
        "end_time_us": None,
        "participation_bps": None,
        "display_quantity": None,
        "peg_offset": None,
        "params": {},
    }
    record.update(fields)
    return record


def parent(
    client_order_id: str, execution: dict[str, Any], *, t: int = T0, quantity: int = 10 * Q, **terms: Any
) -> tuple[str, Event]:
    """(order id, the NewOrder command) of a parent: a MARKET buy unless ``terms`` say otherwise."""
    order_id = order_id_for(ACCOUNT, client_order_id)
    fields: dict[str, Any] = {"order_type": "MARKET", "price": None, "quantity": quantity, "execution": execution}
    fields.update(terms)
    return order_id, command(NEW_ORDER, new_order_record(order_id, client_order_id, t=t, **fields))


def events_of(engine_: MemoryEngine, order_id: str) -> list[dict[str, Any]]:
    return [r for r in engine_.records(ORDERS_EVENTS) if r["order_id"] == order_id]


def last_event(engine_: MemoryEngine, order_id: str) -> dict[str, Any]:
    return events_of(engine_, order_id)[-1]


def children(engine_: MemoryEngine, parent_id: str) -> list[dict[str, Any]]:
    """The child NewOrders the router sent for a parent, in order."""
    return [
        r
        for r in engine_.records(ORDERS_CHILD_COMMANDS)
        if "client_order_id" in r and r["parent_order_id"] == parent_id
    ]


def child_cancels(engine_: MemoryEngine) -> list[dict[str, Any]]:
    return [r for r in engine_.records(ORDERS_CHILD_COMMANDS) if "client_order_id" not in r]


def decided(engine_: MemoryEngine) -> dict[str, bool]:
    """Order id -> approved, for every NewOrder risk decided."""
    return {r["order_id"]: r["approved"] for r in engine_.records(RISK_DECISIONS) if r["command"][0] == NEW_ORDER}


def open_children(engine_: MemoryEngine, parent_id: str) -> list[str]:
    latest: dict[str, str] = {}
    for r in engine_.records(ORDERS_EVENTS):
        if r["parent_order_id"] == parent_id:
            latest[r["order_id"]] = r["status"]
    return [order_id for order_id, status in latest.items() if status not in TERMINAL_STATUSES]


def send_all(engine_: MemoryEngine, events: Iterable[Event]) -> list[Emit]:
    emits: list[Emit] = []
    for event in events:
        emits += engine_.send(event)
    return emits


__all__ = ["ACCOUNT", "MARKET_PRICE", "SYMBOL", "T0", "P", "Q", "S"]
