"""Builders of the market data events the order book core takes, and readers of what it emits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from processors.core import Emit, Event
from processors.orderbook.core import OrderBookCore
from schemas.names import BOOK_TOP, FEED_STATUS, MARKET_ANALYTICS
from tests.kit import events as kit
from tests.kit.books import depth_snapshot, depth_update
from tests.kit.events import MS, SYMBOL, T0, P, Q, S, records_of
from topics.catalogue import MD_DEPTH, MD_TRADES

# The order book tests import the shared builders through this module too.
__all__ = [
    "ASKS",
    "BIDS",
    "FUTURES",
    "MS",
    "SYMBOL",
    "T0",
    "VENUE",
    "P",
    "Q",
    "S",
    "analytics",
    "interleave",
    "levels_of",
    "run",
    "session",
    "snapshot",
    "statuses",
    "tops",
    "trade",
    "update",
    "without_ingest_time",
]

VENUE = "binance-spot"
FUTURES = "binance-futures"  # USD-M: updates chain on pu
PRODUCER = "connector.test"

Levels = Sequence[tuple[int, int]]


def snapshot(
    last_update_id: int, bids: Levels, asks: Levels, *, t: int = T0, symbol: str = SYMBOL, venue: str = VENUE
) -> Event:
    return depth_snapshot(last_update_id, bids, asks, t=t, symbol=symbol, venue=venue, producer=PRODUCER)


def update(
    first: int,
    last: int | None = None,
    *,
    bids: Levels = (),
    asks: Levels = (),
    previous: int | None = None,
    t: int = T0,
    symbol: str = SYMBOL,
    venue: str = VENUE,
) -> Event:
    return depth_update(
        first, last, bids=bids, asks=asks, previous=previous, t=t, symbol=symbol, venue=venue, producer=PRODUCER
    )


def trade(price: int, quantity: int, aggressor: str | None, *, t: int = T0, symbol: str = SYMBOL) -> Event:
    return kit.trade(price, quantity, aggressor, t=t, symbol=symbol, venue=VENUE, producer=PRODUCER)


def run(core: OrderBookCore, events: Sequence[Event]) -> list[Emit]:
    """Apply the events in order; every emitted record must encode with the project codec."""
    return kit.run(core, *events)


def tops(emits: Sequence[Emit]) -> list[dict[str, Any]]:
    return records_of(emits, BOOK_TOP)


def statuses(emits: Sequence[Emit]) -> list[dict[str, Any]]:
    return records_of(emits, FEED_STATUS)


def analytics(emits: Sequence[Emit]) -> list[dict[str, Any]]:
    return records_of(emits, MARKET_ANALYTICS)


def levels_of(side: list[dict[str, int]]) -> list[tuple[int, int]]:
    return [(level["price"], level["quantity"]) for level in side]


# A small two-sided book around 100.
BIDS = [(100 * P, 1 * Q), (99 * P, 2 * Q), (98 * P, 3 * Q)]
ASKS = [(101 * P, 1 * Q), (102 * P, 2 * Q), (103 * P, 3 * Q)]


def session(seed: int, steps: int) -> list[Event]:
    """A seeded random session: a snapshot, then updates and trades a few ms apart."""
    rng = np.random.default_rng(seed)
    events = [snapshot(1, [(100 * P, Q), (99 * P, Q)], [(101 * P, Q), (102 * P, Q)], t=T0 + 1 * MS)]
    t = T0 + 1 * MS
    update_id = 1
    for _ in range(steps):
        t += int(rng.integers(1, 40)) * MS
        if rng.random() < 0.5:
            update_id += 1
            side = "bids" if rng.random() < 0.5 else "asks"
            price = (int(rng.integers(95, 101)) if side == "bids" else int(rng.integers(101, 107))) * P
            quantity = int(rng.integers(0, 4)) * Q
            level = [(price, quantity)]
            events.append(
                update(update_id, t=t, bids=level if side == "bids" else (), asks=level if side == "asks" else ())
            )
        else:
            aggressor = [None, "BUY", "SELL"][int(rng.integers(0, 3))]
            events.append(trade(int(rng.integers(99, 103)) * P, int(rng.integers(1, 5)) * Q // 2, aggressor, t=t))
    return events


def interleave(events: list[Event], seed: int, max_run: int) -> list[Event]:
    """Depth and trades in a random interleaving that keeps each topic's own order (runs of up to max_run)."""
    rng = np.random.default_rng(seed)
    depth = [e for e in events if e.topic == MD_DEPTH]
    trades = [e for e in events if e.topic == MD_TRADES]
    merged: list[Event] = []
    while depth or trades:
        source = depth if (depth and (not trades or rng.random() < 0.5)) else trades
        take = int(rng.integers(1, max_run + 1))
        merged += source[:take]
        del source[:take]
    return merged


def without_ingest_time(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as a projection keeps them: ingest time is when the closing event happened to arrive."""
    return [{**r, "meta": {k: v for k, v in r["meta"].items() if k != "ingest_time_us"}} for r in records]
