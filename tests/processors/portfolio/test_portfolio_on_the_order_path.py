"""The portfolio fed by the real order path in process: risk -> oms -> venue -> oms -> orders.events -> portfolio.

Checks the portfolio against what the OMS really writes (cumulative quantities, fill ids, fees of the venue),
not only against this folder's builders.
"""

from __future__ import annotations

import itertools

from _portfolio_builders import T0, P, Q, run, trade, without_meta

from processors.core import Event, order_id_for
from processors.portfolio import PortfolioCore
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import stage_spec
from processors.runtime.registry import core_class
from schemas.codec import default_codec
from schemas.examples import example_event
from schemas.names import NEW_ORDER, ORDER_EVENT
from topics.catalogue import ORDERS_COMMANDS, ORDERS_EVENTS, PORTFOLIO_POSITIONS

SYMBOL = "PATHUSDT"
_ids = itertools.count(1)


def order_path() -> MemoryEngine:
    """Risk, OMS, venue and portfolio in one process (the "orderpath" stage), every output encoded and every
    record handed between the cores decoded from its bytes, as a Kafka hop would give it."""
    cores = [core_class(name) for name in stage_spec("orderpath").cores]
    return MemoryEngine(cores, codec=default_codec(), name="orderpath")


def new_order(account: str, side: str, quantity: int, price: int, t: int) -> Event:
    n = next(_ids)
    client_order_id = f"cl-{n}"
    event_id = f"cmd-{n}"
    meta = {
        "event_id": event_id,
        "producer": "api",
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": event_id,
    }
    record = example_event(
        NEW_ORDER,
        meta=meta,
        account=account,
        client_order_id=client_order_id,
        order_id=order_id_for(account, client_order_id),
        symbol=SYMBOL,
        side=side,
        quantity=quantity,
        price=price,
        post_only=False,
        execution=None,
    )
    return Event(ORDERS_COMMANDS, account, NEW_ORDER, record, t)


def test_positions_built_from_the_oms_fills_add_up_and_a_replayed_log_counts_each_fill_once() -> None:
    path = order_path()
    steps = [
        ("maker", "SELL", 5 * Q, 100 * P),
        ("taker", "BUY", 2 * Q, 101 * P),  # takes 2 of the resting 5 at 100
        ("taker", "BUY", 4 * Q, 100 * P),  # takes the other 3, rests 1
        ("maker", "SELL", 2 * Q, 99 * P),  # fills the resting 1 at 100, rests 1 at 99
    ]
    for n, (account, side, quantity, price) in enumerate(steps):
        path.send(new_order(account, side, quantity, price, T0 + n))
    path.send(trade(98 * P, symbol=SYMBOL, t=T0 + 10))

    fills = [e for e in path.records(ORDERS_EVENTS) if e["event_type"] in ("PARTIALLY_FILLED", "FILLED")]
    assert len(fills) == 6  # three crosses, each filling the maker and the taker
    portfolio: PortfolioCore = path.core("portfolio")
    for account in ("maker", "taker"):
        own = [e for e in fills if e["account"] == account]
        view = portfolio.position_view(account, SYMBOL)
        assert view is not None
        assert view["quantity"] == sum(e["last_quantity"] * (1 if e["side"] == "BUY" else -1) for e in own)
        assert view["fill_count"] == len(own)
        assert view["fees"] == sum(e["fee"] for e in own)
        assert view["last_fill_id"] == own[-1]["fill_id"]
        assert view["mark_price"] == 98 * P
    taker = portfolio.position_view("taker", SYMBOL)
    assert taker is not None
    assert (taker["quantity"], taker["avg_price"]) == (6 * Q, 100 * P)
    assert taker["unrealized_pnl"] == -12 * 10**8  # 6 bought at 100, marked at 98

    positions = path.records(PORTFOLIO_POSITIONS)
    latest = {(p["account"], p["symbol"]): without_meta(p) for p in positions}
    assert latest[("taker", SYMBOL)] == taker

    # The whole orders.events log delivered twice (an at-least-once replay) to a fresh portfolio.
    replayed = PortfolioCore()
    log = [
        Event(ORDERS_EVENTS, e["account"], ORDER_EVENT, e, e["meta"]["ingest_time_us"])
        for e in path.records(ORDERS_EVENTS)
    ]
    run(replayed, *log, *log, trade(98 * P, symbol=SYMBOL, t=T0 + 10))
    for account in ("maker", "taker"):
        assert replayed.position_view(account, SYMBOL) == portfolio.position_view(account, SYMBOL)
