"""Builders of the market data books are built from: md.depth snapshots and updates, keyed by symbol, as a
connector publishes them (the trade prints beside them are ``tests.kit.events.trade``). The order book's and
the venue's builder modules shape these with their venue and producer."""

from __future__ import annotations

from collections.abc import Iterable

from processors.core import Event
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE
from tests.kit.events import SYMBOL, T0, meta
from topics.catalogue import MD_DEPTH

Levels = Iterable[tuple[int, int]]


def depth_levels(levels: Levels) -> list[dict[str, int]]:
    """(price, quantity) pairs as the PriceLevel records of a depth snapshot or update."""
    return [{"price": price, "quantity": quantity} for price, quantity in levels]


def depth_snapshot(
    last_update_id: int,
    bids: Levels,
    asks: Levels,
    *,
    t: int = T0,
    symbol: str = SYMBOL,
    venue: str = "sim",
    producer: str = "connector.sim",
) -> Event:
    """A whole book at ``last_update_id``: bids best first, asks best first."""
    record = {
        "meta": meta(t, producer),
        "venue": venue,
        "symbol": symbol,
        "last_update_id": last_update_id,
        "bids": depth_levels(bids),
        "asks": depth_levels(asks),
    }
    return Event(MD_DEPTH, symbol, DEPTH_SNAPSHOT, record, t)


def depth_update(
    first: int,
    last: int | None = None,
    *,
    bids: Levels = (),
    asks: Levels = (),
    previous: int | None = None,
    t: int = T0,
    symbol: str = SYMBOL,
    venue: str = "sim",
    producer: str = "connector.sim",
) -> Event:
    """The level changes of update ids ``first``..``last`` (``last`` defaults to ``first``); quantity 0 deletes."""
    record = {
        "meta": meta(t, producer),
        "venue": venue,
        "symbol": symbol,
        "first_update_id": first,
        "last_update_id": first if last is None else last,
        "previous_last_update_id": previous,
        "bids": depth_levels(bids),
        "asks": depth_levels(asks),
    }
    return Event(MD_DEPTH, symbol, DEPTH_UPDATE, record, t)
