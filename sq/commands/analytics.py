"""`sq analytics SYMBOL [--json]`: the latest microstructure analytics of a symbol.

Reads ``md.depth`` and ``md.trades`` from the beginning through the orderbook core (as `sq book` does) and
prints the last ``MarketAnalytics`` the core computed: every measure by name, null where its window had too
little data. The window end is the last whole analytics interval of event time.
"""

from __future__ import annotations

import argparse
from typing import Any

from connectors.marketdata.views import MEASURES, MarketDataUnreadable, NoMarketData, latest_analytics
from settings import load_settings
from sq.commands.book import iso_time
from sq.errors import CommandError
from sq.output import emit_json, progress, say, table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("analytics", help="print a symbol's latest microstructure analytics")
    parser.add_argument("symbol", help="instrument symbol, e.g. BTCUSDT")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    progress(f"computing {args.symbol} analytics from md.depth and md.trades")
    try:
        document = latest_analytics(load_settings(), args.symbol)
    except MarketDataUnreadable as error:
        raise CommandError(f"{error}; is the broker up (`sq infra status`)?") from None
    except NoMarketData as error:
        raise CommandError(f"{error}; start a feed (`sq feed …`) first") from None
    if args.json:
        emit_json(document)
        return 0
    say(
        f"{args.symbol} on {document['venue']}, window ending {iso_time(document['window_end_us'])} "
        f"({document['windows']} windows computed)"
    )
    values = ((name, document[name]) for name in MEASURES)
    rows = [(name, "n/a (too little data)" if value is None else f"{value:.10g}") for name, value in values]
    table(("measure", "value"), rows)
    return 0
