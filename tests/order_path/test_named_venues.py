"""Named simulated venues (``SQ_VENUES``) through the running order path: an order naming a venue trades on
that venue's book at that venue's fees, and an order on another venue at the same price does not meet it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from running_path import RunningPath, wait_for

from processors.venue.matching import fee_for
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE, Price
from settings import Settings, parse_venues
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE, ORDERS_EVENTS

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
