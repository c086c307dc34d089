"""`sq analytics SYMBOL [--json]`: the latest microstructure analytics of a symbol.

Reads ``md.depth`` and ``md.trades`` from the beginning through the orderbook core (as `sq book` does) and
prints the last ``MarketAnalytics`` the core computed: every measure by name, null where its window had too
little data. The window end is the last whole analytics interval of event time.
"""

from __future__ import annotations

import argparse
from typing import Any

from processors.orderbook.core import MARKET_ANALYTICS, OrderBookCore
from sq.commands.book import iso_time, replay, symbol_events
from sq.errors import CommandError
from sq.output import emit_json, progress, say
from sq.settings import load_settings

MEASURES = ("spread", "mid", "microprice", "depth_imbalance", "realized_volatility", "trade_flow_imbalance", "vpin",
            "kyle_lambda", "kyle_lambda_t", "pin")  # fmt: skip


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("analytics", help="print a symbol's latest microstructure analytics")
    parser.add_argument("symbol", help="instrument symbol, e.g. BTCUSDT")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    events = symbol_events(load_settings(), args.symbol)
    if not events:
        raise CommandError(f"no market data for {args.symbol}; start a feed (`sq feed …`) first")
    progress(f"computing {args.symbol} analytics from {len(events)} events")
    core = OrderBookCore()
    emits = replay(core, events) + core.end_of_input(args.symbol)  # the topics were read to their end
    published = [emit.record for emit in emits if emit.schema == MARKET_ANALYTICS]
    if not published:
        raise CommandError(f"the market data of {args.symbol} spans less than one analytics interval "
                           f"({core.config.interval_us} us of event time)")  # fmt: skip
    latest = published[-1]
    document = {"symbol": args.symbol, "venue": latest["venue"], "window_end_us": latest["window_end_us"],
                "windows": len(published), **{name: latest[name] for name in MEASURES}}  # fmt: skip
    if args.json:
        emit_json(document)
        return 0
    say(f"{args.symbol} on {latest['venue']}, window ending {iso_time(latest['window_end_us'])} "
        f"({len(published)} windows computed)")  # fmt: skip
    width = max(len(name) for name in MEASURES)
    for name in MEASURES:
        value = latest[name]
        say(f"  {name.ljust(width)}  {'n/a (too little data)' if value is None else f'{value:.10g}'}")
    return 0
