"""A symbol's order book and latest analytics, computed from the log by the orderbook core.

Shared by `sq book`, `sq analytics` and the API's market routes: the symbol's ``md.depth`` and ``md.trades``
events from the beginning, merged in event time, replayed through the same ``OrderBookCore`` the orderbook
processor runs, so every reader shows what the processor holds. Prices and quantities are exact decimal
strings.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any, Final

from confluent_kafka import KafkaException

from processors.core import Emit, Event
from processors.orderbook.book import Level
from processors.orderbook.core import OrderBookCore
from schemas.names import MARKET_ANALYTICS
from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, format_fixed
from settings import Settings
from topics.catalogue import MD_DEPTH, MD_TRADES
from topics.client import read_events

MEASURES: Final = (
    "spread",
    "mid",
    "microprice",
    "depth_imbalance",
    "realized_volatility",
    "trade_flow_imbalance",
    "vpin",
    "kyle_lambda",
    "kyle_lambda_t",
    "pin",
)


class MarketDataUnreadable(RuntimeError):
    """md.depth or md.trades could not be read to its end (the broker is down or did not answer in time)."""


class NoMarketData(LookupError):
    """The log holds too little market data of the symbol for the view asked for."""


def symbol_events(settings: Settings, symbol: str, timeout_s: float = 30.0) -> list[Event]:
    """The symbol's depth and trade events from the beginning, merged in event time (each topic's order kept)."""
    streams: list[list[Event]] = []
    for topic in (MD_DEPTH, MD_TRADES):
        try:
            decoded = read_events(settings, topic, timeout_s=timeout_s)
        except (RuntimeError, TimeoutError, KafkaException) as error:
            raise MarketDataUnreadable(f"cannot read {topic}: {error}") from None
        streams.append(
            [
                Event(topic, symbol, d.schema, d.record, d.record["meta"]["ingest_time_us"])
                for d in decoded
                if d.record.get("symbol") == symbol
            ]
        )
    return list(heapq.merge(*streams, key=lambda event: event.record["meta"]["event_time_us"]))


def replay(core: OrderBookCore, events: Iterable[Event]) -> list[Emit]:
    emits: list[Emit] = []
    for event in events:
        emits.extend(core.apply(event))
    return emits


def decimal_levels(levels: list[Level]) -> list[list[str]]:
    return [
        [format_fixed(price, PRICE_DECIMALS), format_fixed(quantity, QUANTITY_DECIMALS)] for price, quantity in levels
    ]


def book_view(settings: Settings, symbol: str, depth: int, timeout_s: float = 30.0) -> dict[str, Any]:
    """``{symbol, venue, sequence, bids, asks, stale, events}`` of the symbol's book rebuilt from the log."""
    events = symbol_events(settings, symbol, timeout_s)
    if not any(event.topic == MD_DEPTH for event in events):
        raise NoMarketData(f"no depth for {symbol} in {MD_DEPTH}")
    core = OrderBookCore()
    replay(core, events)
    view = core.book_view(symbol, depth)
    assert view is not None  # the symbol had depth events
    return {
        "symbol": symbol,
        "venue": view["venue"],
        "sequence": view["sequence"],
        "bids": decimal_levels(view["bids"]),
        "asks": decimal_levels(view["asks"]),
        "stale": view["stale"],
        "events": len(events),
    }


def latest_analytics(settings: Settings, symbol: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """``{symbol, venue, window_end_us, windows, <every measure>}`` of the last whole analytics interval."""
    events = symbol_events(settings, symbol, timeout_s)
    if not events:
        raise NoMarketData(f"no market data for {symbol}")
    core = OrderBookCore()
    emits = replay(core, events) + core.end_of_input(symbol)  # the topics were read to their end
    published = [emit.record for emit in emits if emit.schema == MARKET_ANALYTICS]
    if not published:
        raise NoMarketData(
            f"the market data of {symbol} spans less than one analytics interval "
            f"({core.config.interval_us} us of event time)"
        )
    latest = published[-1]
    return {
        "symbol": symbol,
        "venue": latest["venue"],
        "window_end_us": latest["window_end_us"],
        "windows": len(published),
        **{name: latest[name] for name in MEASURES},
    }
