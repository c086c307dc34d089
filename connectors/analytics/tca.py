"""One order's transaction cost analysis from the projection and the recorded market data.

The order and its children (orders naming it as their parent) come from the PostgreSQL projection, their
fills from its order events (the events with ``last_quantity`` > 0: a parent's roll-up of a child's fill is
not one, the child's own event is); the market over the order's interval from md.book.top (every venue's best
bid and offer) and md.trades, read from a ``QUOTE_LOOKBACK`` before the arrival so the arrival mid is known.
docs/TCA.md defines the figures.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from connectors.marketdata.history import symbol_records
from connectors.postgres import read_models
from connectors.postgres.read_models import Order
from processors.analytics.tca import Fill, MarketTrade, OrderUnderAnalysis, Quote, TcaReport, analyse
from settings import Settings
from topics.catalogue import MD_BOOK_TOP, MD_TRADES

QUOTE_LOOKBACK_US: Final = 60_000_000  # the arrival mid is each venue's latest quote within this before arrival


def order_under_analysis(order: Order, children: int, fills: list[Fill]) -> OrderUnderAnalysis:
    """The order's side, quantity and interval: from its first event to its latest event or its last fill,
    whichever is later."""
    end = max([order.updated_time_us, *(f.time_us for f in fills)])
    return OrderUnderAnalysis(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        start_us=order.created_time_us,
        end_us=end,
        status=order.status,
        children=children,
    )


def order_tca(conn: psycopg.Connection[Any], settings: Settings, order: Order) -> TcaReport:
    """The TCA of ``order``: on its children's fills when it has children, else on its own."""
    found = read_models.order_fills(conn, order.order_id)
    fills = [
        Fill(
            r.event_time_us,
            r.event["venue"],
            r.event["last_quantity"],
            r.event["last_price"],
            r.event["fee"],
            found.created_us.get(r.order_id),
        )
        for r in found.events
    ]
    subject = order_under_analysis(order, found.children, fills)
    since, until = subject.start_us - QUOTE_LOOKBACK_US, subject.end_us
    quotes = [
        Quote(r["meta"]["event_time_us"], r["venue"], r["bid_price"], r["ask_price"], r["stale"])
        for r in symbol_records(settings, MD_BOOK_TOP, order.symbol, from_us=since, to_us=until)
    ]
    trades = [
        MarketTrade(r["meta"]["event_time_us"], r["venue"], r["price"], r["quantity"])
        for r in symbol_records(settings, MD_TRADES, order.symbol, from_us=since, to_us=until)
    ]
    return analyse(subject, fills, quotes, trades)
