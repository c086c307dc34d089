"""`sq book SYMBOL [--depth N] [--json]`: the order book of a symbol, as the orderbook processor holds it.

The command reads the symbol's latest record of the processor's changelog once (from the end backwards, never
md.depth's history) into the same ``OrderBookCore`` the processor runs (``connectors.marketdata.views``, which
the API's market routes use too). Prices and quantities are printed as exact decimal strings.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from connectors.marketdata.views import MarketDataUnreadable, NoMarketData, book_view
from settings import load_settings
from sq.errors import CommandError
from sq.output import emit_json, progress, say, table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("book", help="print a symbol's order book, as the orderbook processor holds it")
    parser.add_argument("symbol", help="instrument symbol, e.g. BTCUSDT")
    parser.add_argument("--depth", type=int, default=10, help="levels per side (default 10)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def iso_time(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat(timespec="milliseconds")


def run(args: argparse.Namespace) -> int:
    if args.depth <= 0:
        raise CommandError("--depth must be positive")
    progress(f"reading the orderbook processor's latest state of {args.symbol}")
    try:
        view = book_view(load_settings(), args.symbol, args.depth)
    except MarketDataUnreadable as error:
        raise CommandError(f"{error}; is the broker up (`sq infra status`)?") from None
    except NoMarketData as error:
        raise CommandError(f"{error}; start a feed (`sq feed …`) and the orderbook processor first") from None
    bids, asks = view["bids"], view["asks"]
    if args.json:
        emit_json(view)
        return 0
    state = "STALE (not in sync: resync pending)" if view["stale"] else "in sync"
    say(f"{args.symbol} on {view['venue']} at update id {view['sequence']}: {state}")
    rows = []
    for index in range(max(len(bids), len(asks))):
        bid = bids[index] if index < len(bids) else ["", ""]
        ask = asks[index] if index < len(asks) else ["", ""]
        rows.append((bid[1], bid[0], ask[0], ask[1]))
    table(("bid qty", "bid", "ask", "ask qty"), rows, right={0, 1})  # bids right-aligned toward the spread
    return 0
