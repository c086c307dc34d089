"""`sq book SYMBOL [--depth N] [--json]`: the order book of a symbol, rebuilt from md.depth by the orderbook core.

The command reads ``md.depth`` and ``md.trades`` from the beginning and feeds the symbol's events, merged in
event time, through the same ``OrderBookCore`` the processor runs, so it prints what the processor holds.
Prices and quantities are printed as exact decimal strings.
"""

from __future__ import annotations

import argparse
import heapq
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException

from processors.core import Emit, Event
from processors.orderbook.core import OrderBookCore
from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, format_fixed
from sq.errors import CommandError
from sq.output import emit_json, progress, say
from sq.settings import Settings, load_settings
from topics.catalogue import MD_DEPTH, MD_TRADES
from topics.client import read_events


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("book", help="print a symbol's order book, rebuilt from md.depth")
    parser.add_argument("symbol", help="instrument symbol, e.g. BTCUSDT")
    parser.add_argument("--depth", type=int, default=10, help="levels per side (default 10)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


class MarketDataUnreadable(CommandError):
    """md.depth or md.trades could not be read to its end (the broker is down or did not answer in time)."""


def symbol_events(settings: Settings, symbol: str, timeout_s: float = 30.0) -> list[Event]:
    """The symbol's depth and trade events from the beginning, merged in event time (each topic's order kept).

    Shared by `sq book`, `sq analytics` and the API's market routes."""
    streams: list[list[Event]] = []
    for topic in (MD_DEPTH, MD_TRADES):
        try:
            decoded = read_events(settings, topic, timeout_s=timeout_s)
        except (RuntimeError, TimeoutError, KafkaException) as error:
            raise MarketDataUnreadable(f"cannot read {topic}: {error}") from None
        streams.append([Event(topic, symbol, d.schema, d.record, d.record["meta"]["ingest_time_us"])
                        for d in decoded if d.record.get("symbol") == symbol])  # fmt: skip
    return list(heapq.merge(*streams, key=lambda event: event.record["meta"]["event_time_us"]))


def replay(core: OrderBookCore, events: Iterable[Event]) -> list[Emit]:
    emits: list[Emit] = []
    for event in events:
        emits.extend(core.apply(event))
    return emits


def iso_time(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat(timespec="milliseconds")


def _decimal_levels(levels: list[tuple[int, int]]) -> list[list[str]]:
    return [[format_fixed(price, PRICE_DECIMALS), format_fixed(quantity, QUANTITY_DECIMALS)]
            for price, quantity in levels]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.depth <= 0:
        raise CommandError("--depth must be positive")
    events = symbol_events(load_settings(), args.symbol)
    if not any(event.topic == MD_DEPTH for event in events):
        raise CommandError(f"no depth for {args.symbol} in {MD_DEPTH}; start a feed (`sq feed …`) first")
    progress(f"rebuilding {args.symbol} from {len(events)} events")
    core = OrderBookCore()
    replay(core, events)
    view = core.book_view(args.symbol, args.depth)
    assert view is not None  # the symbol had depth events
    bids, asks = _decimal_levels(view["bids"]), _decimal_levels(view["asks"])
    document = {"symbol": args.symbol, "venue": view["venue"], "sequence": view["sequence"], "bids": bids,
                "asks": asks, "stale": view["stale"]}  # fmt: skip
    if args.json:
        emit_json(document)
        return 0
    state = "STALE (not in sync: resync pending)" if view["stale"] else "in sync"
    say(f"{args.symbol} on {view['venue']} at update id {view['sequence']}: {state}")
    rows = [("bid qty", "bid", "ask", "ask qty")]
    for index in range(max(len(bids), len(asks))):
        bid = bids[index] if index < len(bids) else ["", ""]
        ask = asks[index] if index < len(asks) else ["", ""]
        rows.append((bid[1], bid[0], ask[0], ask[1]))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        say("  ".join(cell.rjust(width) for cell, width in zip(row[:2], widths[:2], strict=True)) + " | "
            + "  ".join(cell.ljust(width) for cell, width in zip(row[2:], widths[2:], strict=True)))  # fmt: skip
    return 0
