"""`sq tca ORDER_ID [--json]`: transaction cost analysis of one order (docs/TCA.md).

The order and its children's (or, without children, its own) fills come from the projection; the book tops
and trades over its interval from md.book.top and md.trades (``connectors.analytics.tca``, which GET
/v1/orders/{id}/tca uses too). A figure whose benchmark has no market data is printed n/a (null in JSON).
"""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from connectors.analytics.tca import order_tca
from connectors.marketdata.views import MarketDataUnreadable
from connectors.postgres import read_models
from settings import load_settings
from sq.commands.book import iso_time
from sq.errors import CommandError
from sq.output import emit_json, progress, say, table

TIMEOUT_S = 5

FIGURES = (
    ("arrival price", "arrival_price", ""),
    ("interval VWAP", "interval_vwap", ""),
    ("average fill price", "average_price", ""),
    ("end price", "end_price", ""),
    ("filled / ordered", "fill_ratio", ""),
    ("participation", "participation", ""),
    ("slippage vs arrival", "slippage_vs_arrival_bps", " bps"),
    ("slippage vs interval VWAP", "slippage_vs_vwap_bps", " bps"),
    ("execution cost", "execution_cost_bps", " bps"),
    ("opportunity cost", "opportunity_cost_bps", " bps"),
    ("fees", "fees_bps", " bps"),
    ("implementation shortfall", "implementation_shortfall_bps", " bps"),
    ("price improvement vs consolidated BBO", "price_improvement_bps", " bps"),
    ("filled at or better than the BBO", "at_or_better_than_bbo", ""),
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("tca", help="transaction cost analysis of an order (a parent on its children)")
    parser.add_argument("order_id")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    progress(f"reading order {args.order_id} and the market over its interval")
    try:
        with psycopg.connect(settings.database_url, connect_timeout=TIMEOUT_S) as conn:
            order = read_models.get_order(conn, args.order_id)
            if order is None:
                raise CommandError(f"no order {args.order_id} in the projection; check the id (`sq status` shows lag)")
            document = order_tca(conn, settings, order).as_json()
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    except MarketDataUnreadable as error:
        raise CommandError(f"{error}; is the broker up (`sq infra status`)?") from None
    if args.json:
        emit_json(document)
        return 0
    children = document["children"]
    measured = f"{children} children's fills" if children else "its own fills"
    say(
        f"{document['order_id']}: {document['side']} {document['quantity']:g} {document['symbol']} "
        f"({document['status']}), {iso_time(document['start_time_us'])} to {iso_time(document['end_time_us'])}, "
        f"on {measured}"
    )
    source = document["arrival_source"]
    rows = []
    for label, key, unit in FIGURES:
        value = document[key]
        text = "n/a" if value is None else f"{value:.6g}{unit}"
        if key == "arrival_price" and source is not None:
            text += f" ({source.replace('_', ' ')})"
        rows.append((label, text))
    table(("figure", "value"), rows, right={1})
    venues = document["fees_by_venue"]
    if venues:
        table(
            ("venue", "fills", "quantity", "notional", "fees", "fee bps", "improvement bps"),
            [
                (
                    venue,
                    str(c["fills"]),
                    f"{c['quantity']:g}",
                    f"{c['notional']:.2f}",
                    f"{c['fees']:.8g}",
                    "n/a" if c["fee_bps"] is None else f"{c['fee_bps']:.4g}",
                    "n/a" if c["price_improvement_bps"] is None else f"{c['price_improvement_bps']:.4g}",
                )
                for venue, c in venues.items()
            ],
            right={1, 2, 3, 4, 5, 6},
        )
    return 0
