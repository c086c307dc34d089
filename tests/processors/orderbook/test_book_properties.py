"""Invariants of the order book core over random snapshot/update streams (hypothesis)."""

from __future__ import annotations

from typing import Any

from _book_builders import ASKS, BIDS, T0, P, Q, levels_of, run, snapshot, tops, update
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Event
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore

prices = st.integers(95, 105).map(lambda ticks: ticks * P)
quantities = st.integers(0, 3).map(lambda units: units * Q)
sides = st.lists(st.tuples(prices, quantities), max_size=4)


@st.composite
def streams(draw: Any) -> list[Event]:
    """Snapshots (sometimes crossed), and updates that mostly follow on and sometimes skip ids."""
    events: list[Event] = []
    next_id = 1
    for step in range(draw(st.integers(1, 25))):
        t = T0 + step * 1000
        if draw(st.integers(0, 9)) == 0 or not events:
            next_id += draw(st.integers(0, 50))
            bids = [(p, q) for p, q in draw(sides) if q]
            asks = [(p, q) for p, q in draw(sides) if q]
            events.append(snapshot(next_id, list(dict(bids).items()), list(dict(asks).items()), t=t))
            next_id += 1
            continue
        first = next_id + (draw(st.integers(1, 3)) if draw(st.integers(0, 9)) == 0 else 0)
        last = first + draw(st.integers(0, 2))
        events.append(update(first, last, bids=draw(sides), asks=draw(sides), t=t))
        next_id = last + 1
    return events


def model_after(events: list[Event]) -> tuple[dict[int, int], dict[int, int]] | None:
    """The book a plain dict model holds after the events, or None when it cannot be trusted."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    at: int | None = None
    for event in events:
        record = event.record
        if event.schema.endswith("DepthSnapshot"):
            bids = {level["price"]: level["quantity"] for level in record["bids"]}
            asks = {level["price"]: level["quantity"] for level in record["asks"]}
            at = record["last_update_id"]
        elif at is not None:
            if record["last_update_id"] <= at:
                continue
            if record["first_update_id"] > at + 1:
                at = None
                continue
            for side, levels in ((bids, record["bids"]), (asks, record["asks"])):
                for level in levels:
                    if level["quantity"]:
                        side[level["price"]] = level["quantity"]
                    else:
                        side.pop(level["price"], None)
            at = record["last_update_id"]
        if at is not None and bids and asks and max(bids) >= min(asks):
            at = None
    return (bids, asks) if at is not None else None


@settings(max_examples=80, deadline=None)
@given(streams())
def test_published_book_is_never_crossed_nor_unsorted(events: list[Event]) -> None:
    published = tops(run(OrderBookCore(OrderBookConfig(publish_depth=20)), events))
    for top in published:
        bids, asks = levels_of(top["bids"]), levels_of(top["asks"])
        if top["stale"]:
            assert bids == [] and asks == [] and top["bid_price"] is None and top["ask_price"] is None
            continue
        assert all(quantity > 0 for _, quantity in bids + asks)
        assert [price for price, _ in bids] == sorted({price for price, _ in bids}, reverse=True)
        assert [price for price, _ in asks] == sorted({price for price, _ in asks})
        if bids and asks:
            assert bids[0][0] < asks[0][0]


@settings(max_examples=80, deadline=None)
@given(streams())
def test_book_matches_a_plain_dict_model_whenever_it_is_in_sync(events: list[Event]) -> None:
    core = OrderBookCore(OrderBookConfig(publish_depth=20))
    run(core, events)
    view = core.book_view("BTCUSDT", 100)
    assert view is not None
    expected = model_after(events)
    assert view["stale"] is (expected is None)
    if expected is not None:
        bids, asks = expected
        assert view["bids"] == sorted(bids.items(), reverse=True)
        assert view["asks"] == sorted(asks.items())


@settings(max_examples=120, deadline=None)
@given(streams(), st.integers(1, 3))
def test_a_shallow_view_is_published_exactly_when_its_levels_change(events: list[Event], depth: int) -> None:
    """With a view shallower than the book, most updates set levels behind it: whatever the core skips, the
    last published levels are the book's best ``depth`` after every event, and a top goes out only on change."""
    core = OrderBookCore(OrderBookConfig(publish_depth=depth))
    last: tuple[list[tuple[int, int]], list[tuple[int, int]], bool] | None = None
    for event in events:
        for top in tops(core.apply(event)):
            view = (levels_of(top["bids"]), levels_of(top["asks"]), top["stale"])
            assert view != last
            last = view
        book = core.book_view("BTCUSDT", depth)
        assert book is not None
        if not book["stale"]:
            assert last == (book["bids"], book["asks"], False)


def test_a_full_views_edge_level_and_what_lies_behind_it() -> None:
    """Depth 2 of three levels a side: a change at the last published level goes out, one behind it does not."""
    core = OrderBookCore(OrderBookConfig(publish_depth=2))
    run(core, [snapshot(10, BIDS, ASKS)])
    behind = update(11, bids=[(98 * P, 5 * Q)], asks=[(103 * P, 5 * Q)])
    assert tops(core.apply(behind)) == []
    (edge,) = tops(core.apply(update(12, bids=[(99 * P, 7 * Q)], asks=[(102 * P, 0)])))
    assert levels_of(edge["bids"]) == [(100 * P, 1 * Q), (99 * P, 7 * Q)]
    assert levels_of(edge["asks"]) == [(101 * P, 1 * Q), (103 * P, 5 * Q)]
