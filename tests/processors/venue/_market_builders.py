"""Builders of the market data the venue reads (md.depth snapshots and updates, md.trades), each checked to
encode as a connector would publish it."""

from __future__ import annotations

from _venue_builders import SYMBOL, T0

from processors.core import Event
from schemas.codec import default_codec
from tests.kit import events as kit
from tests.kit.books import depth_snapshot, depth_update

_codec = default_codec()

Levels = list[tuple[int, int]]
_VENUE = "binance"
_PRODUCER = "feed"


def _checked(event: Event) -> Event:
    _codec.encode(event.schema, event.record)  # the test's market data is what a connector could publish
    return event


def snapshot(bids: Levels, asks: Levels, update_id: int = 100, t: int = T0, symbol: str = SYMBOL) -> Event:
    return _checked(depth_snapshot(update_id, bids, asks, t=t, symbol=symbol, venue=_VENUE, producer=_PRODUCER))


def update(
    update_id: int, bids: Levels | None = None, asks: Levels | None = None, t: int = T0, first: int | None = None
) -> Event:
    first_id = update_id if first is None else first
    depth = depth_update(first_id, update_id, bids=bids or (), asks=asks or (), t=t, venue=_VENUE, producer=_PRODUCER)
    return _checked(depth)


def trade(price: int, quantity: int, t: int = T0, aggressor: str | None = "SELL") -> Event:
    return _checked(kit.trade(price, quantity, aggressor, t=t, venue=_VENUE, producer=_PRODUCER))
