"""Builders of the market data the venue reads (md.depth snapshots and updates, md.trades), each checked to
encode as a connector would publish it."""

from __future__ import annotations

import itertools
from typing import Any

from _venue_builders import SYMBOL, T0

from processors.core import Event
from schemas.codec import default_codec
from topics.catalogue import MD_DEPTH, MD_TRADES

_ids = itertools.count(1)
_codec = default_codec()

Levels = list[tuple[int, int]]


def _meta(t: int) -> dict[str, Any]:
    event_id = f"md-{next(_ids)}"
    return {"event_id": event_id, "producer": "feed", "event_time_us": t, "ingest_time_us": t,
            "causation_id": None, "correlation_id": event_id}  # fmt: skip


def _levels(levels: Levels) -> list[dict[str, int]]:
    return [{"price": price, "quantity": quantity} for price, quantity in levels]


def _md(topic: str, schema: str, record: dict[str, Any]) -> Event:
    _codec.encode(schema, record)  # the test's market data is what a connector could publish
    return Event(topic, record["symbol"], schema, record, record["meta"]["ingest_time_us"])


def snapshot(bids: Levels, asks: Levels, update_id: int = 100, t: int = T0, symbol: str = SYMBOL) -> Event:
    return _md(MD_DEPTH, "shrivenquant.md.DepthSnapshot", {
        "meta": _meta(t), "venue": "binance", "symbol": symbol, "last_update_id": update_id,
        "bids": _levels(bids), "asks": _levels(asks),
    })  # fmt: skip


def update(update_id: int, bids: Levels | None = None, asks: Levels | None = None, t: int = T0,
           first: int | None = None) -> Event:  # fmt: skip
    return _md(MD_DEPTH, "shrivenquant.md.DepthUpdate", {
        "meta": _meta(t), "venue": "binance", "symbol": SYMBOL,
        "first_update_id": update_id if first is None else first, "last_update_id": update_id,
        "previous_last_update_id": None, "bids": _levels(bids or []), "asks": _levels(asks or []),
    })  # fmt: skip


def trade(price: int, quantity: int, t: int = T0, aggressor: str | None = "SELL") -> Event:
    return _md(MD_TRADES, "shrivenquant.md.Trade", {
        "meta": _meta(t), "venue": "binance", "symbol": SYMBOL, "trade_id": f"tr-{next(_ids)}",
        "price": price, "quantity": quantity, "aggressor": aggressor,
    })  # fmt: skip
