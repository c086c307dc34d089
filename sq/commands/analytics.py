"""`sq analytics SYMBOL [--json]`: the latest microstructure analytics of a symbol.

Reads the symbol's last ``MarketAnalytics`` on md.analytics once (from the end backwards, never the history;
``connectors.marketdata.views``, which the API's market routes use too) and prints it: every measure by name,
null where its window had too little data. The window end is the last interval the orderbook processor closed.
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
    progress(f"reading the latest analytics of {args.symbol} from md.analytics")
    try:
        document = latest_analytics(load_settings(), args.symbol)
    except MarketDataUnreadable as error:
        raise CommandError(f"{error}; is the broker up (`sq infra status`)?") from None
    except NoMarketData as error:
        raise CommandError(f"{error}; start a feed (`sq feed …`) and the orderbook processor first") from None
    if args.json:
        emit_json(document)
        return 0
    say(f"{args.symbol} on {document['venue']}, window ending {iso_time(document['window_end_us'])}")
    values = ((name, document[name]) for name in MEASURES)
    rows = [(name, "n/a (too little data)" if value is None else f"{value:.10g}") for name, value in values]
    table(("measure", "value"), rows)
    return 0
