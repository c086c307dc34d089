"""Named simulated venues (``SQ_VENUES``) through the running order path: an order naming a venue trades on
that venue's book at that venue's fees, an order on another venue at the same price does not meet it, and a
SMART parent sweeps the venue of the best net price."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from running_path import RunningPath, wait_for

from processors.venue.matching import fee_for
from schemas.names import BOOK_TOP, DEPTH_SNAPSHOT, TRADE
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE, Price
from settings import Settings, parse_venues
from tests.kit.books import depth_levels, depth_snapshot
from tests.kit.events import trade
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE, MD_BOOK_TOP, MD_DEPTH, MD_TRADES, ORDERS_EVENTS

pytestmark = pytest.mark.integration

PRICE = 100 * PRICE_SCALE
LOT = QUANTITY_SCALE // 10
STARTUP_S = 120


@pytest.fixture(scope="module")
def venues_path(infra_settings: Settings) -> Iterator[RunningPath]:
    settings = replace(
        infra_settings.with_topic_prefix(f"v{uuid.uuid4().hex[:10]}."), venues=parse_venues("fast=1/4/0,cheap=-1/3/0")
    )
    create_topics(settings, CATALOGUE)
    running = RunningPath(settings, "single")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        delete_prefixed_topics(settings)


def test_orders_trade_on_the_venue_they_name_at_its_fees(venues_path: RunningPath) -> None:
    path = venues_path
    tag = uuid.uuid4().hex[:6]
    seller, buyer = f"S-{tag}", f"B-{tag}"
    symbol = f"V{tag}"
    sell = path.new_order(seller, symbol, "SELL", 2 * LOT, PRICE, venue="cheap")

    def status(order_id: str) -> str | None:
        events = path.records(ORDERS_EVENTS, lambda r: r["order_id"] == order_id)
        return events[-1]["status"] if events else None

    wait_for(lambda: status(sell["order_id"]) == "NEW", STARTUP_S, "the sell to rest on cheap")
    elsewhere = path.new_order(buyer, symbol, "BUY", 2 * LOT, PRICE, venue="fast")
    wait_for(lambda: status(elsewhere["order_id"]) == "NEW", 30, "the buy on fast to rest: another venue's book")
    buy = path.new_order(buyer, symbol, "BUY", 2 * LOT, PRICE, venue="cheap")
    wait_for(lambda: status(buy["order_id"]) == "FILLED", 30, "the buy on cheap to fill")

    def fill_of(order_id: str) -> dict:  # type: ignore[type-arg]
        (fill,) = path.records(ORDERS_EVENTS, lambda r: r["order_id"] == order_id and r["last_quantity"] > 0)
        return fill

    wait_for(lambda: status(sell["order_id"]) == "FILLED", 30, "the sell to fill")
    taker, maker = fill_of(buy["order_id"]), fill_of(sell["order_id"])
    assert (taker["venue"], maker["venue"]) == ("cheap", "cheap")
    assert taker["fee"] == fee_for(Price(PRICE), 2 * LOT, 3)  # cheap's taker fee
    assert maker["fee"] == fee_for(Price(PRICE), 2 * LOT, -1)  # cheap's maker rebate
    assert status(elsewhere["order_id"]) == "NEW"


def _market(path: RunningPath, symbol: str, asks: list[tuple[int, int]]) -> None:
    """The symbol's market: a depth snapshot (the venue's market book), its top as the order book processor
    publishes it (the router's view) and a trade (risk's reference price), all now."""
    bids = [(PRICE - PRICE_SCALE, 5 * LOT)]
    now = time.time_ns() // 1000
    snapshot = depth_snapshot(1, bids, asks, t=now, symbol=symbol)
    path.send(MD_DEPTH, symbol, DEPTH_SNAPSHOT, dict(snapshot.record))
    top = {
        "meta": path.meta(now),
        "venue": "sim",
        "symbol": symbol,
        "sequence": 1,
        "bid_price": bids[0][0],
        "bid_quantity": bids[0][1],
        "ask_price": asks[0][0],
        "ask_quantity": asks[0][1],
        "bids": depth_levels(bids),
        "asks": depth_levels(asks),
        "stale": False,
    }
    path.send(MD_BOOK_TOP, symbol, BOOK_TOP, top)
    path.send(MD_TRADES, symbol, TRADE, dict(trade(PRICE, LOT, t=now, symbol=symbol).record))


def test_a_smart_parent_sweeps_the_cheapest_venue_through_the_running_path(venues_path: RunningPath) -> None:
    path = venues_path
    tag = uuid.uuid4().hex[:6]
    account, symbol = f"M-{tag}", f"W{tag}"
    _market(path, symbol, [(PRICE, 2 * LOT), (PRICE + PRICE_SCALE, 5 * LOT)])
    execution: dict[str, Any] = {
        "algo": "SMART",
        "start_time_us": None,
        "end_time_us": None,
        "participation_bps": None,
        "display_quantity": None,
        "peg_offset": None,
        "params": {},
    }
    smart = path.new_order(account, symbol, "BUY", 4 * LOT, PRICE + PRICE_SCALE, execution=execution)

    def filled() -> list[dict]:  # type: ignore[type-arg]
        events = path.records(ORDERS_EVENTS, lambda r: r["order_id"] == smart["order_id"])
        return events if events and events[-1]["status"] == "FILLED" else []

    wait_for(filled, STARTUP_S, "the SMART parent to fill")
    fills = path.records(ORDERS_EVENTS, lambda r: r["parent_order_id"] == smart["order_id"] and r["last_quantity"] > 0)
    # cheap's taker fee (3 bps) beats fast's (4): the sweep takes both levels there, in one child
    assert [(f["venue"], f["last_quantity"], f["last_price"]) for f in fills] == [
        ("cheap", 2 * LOT, PRICE),
        ("cheap", 2 * LOT, PRICE + PRICE_SCALE),
    ]
    assert len({f["order_id"] for f in fills}) == 1
    assert [f["fee"] for f in fills] == [
        fee_for(Price(PRICE), 2 * LOT, 3),
        fee_for(Price(PRICE + PRICE_SCALE), 2 * LOT, 3),
    ]
