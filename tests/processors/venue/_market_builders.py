"""Builders of the market data the venue reads (md.depth snapshots and updates, md.trades), each checked to
encode as a connector would publish it."""

from __future__ import annotations

from typing import Any

from _venue_builders import SYMBOL, T0

from processors.core import Event
from schemas.codec import default_codec
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE
from tests.processors import event_builders
from tests.processors.event_builders import depth_levels
from topics.catalogue import MD_DEPTH

_codec = default_codec()

Levels = list[tuple[int, int]]
_VENUE = "binance"
_PRODUCER = "feed"


def _meta(t: int) -> dict[str, Any]:
    return event_builders.meta(t, _PRODUCER)


def _md(topic: str, schema: str, record: dict[str, Any]) -> Event:
    _codec.encode(schema, record)  # the test's market data is what a connector could publish
    return Event(topic, record["symbol"], schema, record, record["meta"]["ingest_time_us"])


def snapshot(bids: Levels, asks: Levels, update_id: int = 100, t: int = T0, symbol: str = SYMBOL) -> Event:
    return _md(
        MD_DEPTH,
        DEPTH_SNAPSHOT,
        {
            "meta": _meta(t),
            "venue": _VENUE,
            "symbol": symbol,
            "last_update_id": update_id,
            "bids": depth_levels(bids),
            "asks": depth_levels(asks),
        },
    )


def update(
    update_id: int, bids: Levels | None = None, asks: Levels | None = None, t: int = T0, first: int | None = None
) -> Event:
    return _md(
        MD_DEPTH,
        DEPTH_UPDATE,
        {
            "meta": _meta(t),
            "venue": _VENUE,
            "symbol": SYMBOL,
            "first_update_id": update_id if first is None else first,
            "last_update_id": update_id,
            "previous_last_update_id": None,
            "bids": depth_levels(bids or []),
            "asks": depth_levels(asks or []),
        },
    )


def trade(price: int, quantity: int, t: int = T0, aggressor: str | None = "SELL") -> Event:
    event = event_builders.trade(price, quantity, aggressor, t=t, venue=_VENUE, producer=_PRODUCER)
    return _md(event.topic, event.schema, dict(event.record))
