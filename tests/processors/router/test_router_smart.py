"""SMART: the pure sweep over venues (synthetic books, hypothesis) and a SMART parent through the order path with
several named venues (docs/EXECUTION.md via processors.algos.plan)."""

from __future__ import annotations

from typing import Any

from _router_builders import T0, P, Q, S, children, instruction, last_event, parent, send_all, ticks
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.algos.smart import Level, VenueView, allocate, net_price
from processors.core import Event
from processors.router.core import RouterCore
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.registry import core_factory
from processors.venue.matching import fee_for
from schemas.codec import default_codec
from schemas.names import BOOK_TOP
from schemas.scales import Price
from settings import Settings, parse_venues
from tests.kit.books import depth_levels, depth_snapshot
from tests.kit.events import SYMBOL, meta, trade
from topics.catalogue import MD_BOOK_TOP, VENUE_EXECUTIONS

VENUES = "fast=1/4/0,cheap=-1/3/500,slow=-1/3/2000"


# -- the pure sweep -----------------------------------------------------------------------------------------
def test_the_sweep_goes_to_the_venue_of_the_best_net_price_and_latency_breaks_a_tie() -> None:
    specs = parse_venues(VENUES)
    shared = [VenueView(v.name, v.taker_fee_bps, v.latency_us, "m") for v in specs]
    levels: dict[str, list[Level]] = {"m": [(100 * P, 2 * Q), (101 * P, 5 * Q), (102 * P, 9 * Q)]}
    # one market behind every venue: its levels go once, all to cheap (3 bps, and faster than slow)
    assert [(a.venue, a.quantity, a.price) for a in allocate("BUY", 4 * Q, 101 * P, shared, levels)] == [
        ("cheap", 4 * Q, 101 * P)
    ]
    assert allocate("BUY", 20 * Q, 101 * P, shared, levels)[0].quantity == 7 * Q  # no more than shows in the limit
    assert allocate("BUY", 4 * Q, 99 * P, shared, levels) == []  # nothing at or better than the limit


def test_venues_with_their_own_books_split_by_net_price() -> None:
    views = [VenueView("a", 10, 0, "A"), VenueView("b", 0, 0, "B")]
    # a's 100 costs 100.1 with its fee; b's 100.05 costs 100.05: b's level first, then a's
    levels = {"A": [(100 * P, 3 * Q)], "B": [(10005 * P // 100, 2 * Q), (101 * P, 5 * Q)]}
    assert [(x.venue, x.quantity, x.price) for x in allocate("BUY", 4 * Q, None, views, levels)] == [
        ("a", 2 * Q, 100 * P),
        ("b", 2 * Q, 10005 * P // 100),
    ]
    # a sell receives the price less the fee: b's bid of 100 beats a's 100.05 less 10 bps
    bids = {"A": [(10005 * P // 100, 1 * Q)], "B": [(100 * P, 1 * Q)]}
    assert [x.venue for x in allocate("SELL", 1 * Q, None, views, bids)] == ["b"]


_levels = st.lists(st.tuples(st.integers(1, 20), st.integers(1, 10)), max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    quantity=st.integers(0, 60),
    limit=st.one_of(st.none(), st.integers(1, 20)),
    fees=st.lists(
        st.tuples(st.integers(-5, 30), st.integers(0, 3), st.sampled_from(["A", "B"])), min_size=1, max_size=4
    ),
    books=st.fixed_dictionaries({"A": _levels, "B": _levels}),
)
def test_children_never_exceed_the_quantity_and_the_sweep_takes_the_best_net_prices_first(
    side: str, quantity: int, limit: int | None, fees: list[tuple[int, int, str]], books: dict[str, Any]
) -> None:
    views = [VenueView(f"v{n}", fee, latency, market) for n, (fee, latency, market) in enumerate(fees)]
    # each market's levels best first, one level a price
    levels: dict[str, list[Level]] = {}
    for market, raw in books.items():
        by_price = {price * P: quantity_ * Q for price, quantity_ in raw}
        levels[market] = sorted(by_price.items(), reverse=side == "SELL")
    plan = allocate(side, quantity * Q, None if limit is None else limit * P, views, levels)
    assert sum(a.quantity for a in plan) <= quantity * Q
    assert all(a.quantity > 0 for a in plan) and len({a.venue for a in plan}) == len(plan)
    in_limit = {
        market: sum(q for p, q in rows if limit is None or (p <= limit * P if side == "BUY" else p >= limit * P))
        for market, rows in levels.items()
        if any(v.market == market for v in views)
    }
    assert sum(a.quantity for a in plan) == min(quantity * Q, sum(in_limit.values()))
    by_name = {v.name: v for v in views}
    for a in plan:
        assert limit is None or (a.price <= limit * P if side == "BUY" else a.price >= limit * P)
    # The best net prices first: each market's levels are worth their best net over the venues that show them;
    # taken greedily, the last one taken (the marginal) bounds every child, and a market's liquidity only ever
    # goes to its best venue (lowest fee, then latency, then name).
    best: dict[str, VenueView] = {}
    for view in sorted(views, key=lambda v: (v.taker_fee_bps, v.latency_us, v.name)):
        best.setdefault(view.market, view)
    ranked = sorted(
        (_cost(side, price, best[market].taker_fee_bps), q)
        for market, rows in levels.items()
        if market in best
        for price, q in rows
        if limit is None or (price <= limit * P if side == "BUY" else price >= limit * P)
    )
    left, marginal = quantity * Q, None
    for cost, shown in ranked:
        if left <= 0:
            break
        left -= min(left, shown)
        marginal = cost
    for a in plan:
        assert a.venue == best[by_name[a.venue].market].name, "liquidity went to a worse venue of its market"
        assert marginal is not None and _cost(side, a.price, by_name[a.venue].taker_fee_bps) <= marginal


def _cost(side: str, price: int, fee: int) -> int:
    net = net_price(side, price, fee)
    return net if side == "BUY" else -net


# -- through the order path -----------------------------------------------------------------------------------
def book_top(bids: list[tuple[int, int]], asks: list[tuple[int, int]], *, t: int, sequence: int = 1) -> Event:
    record = {
        "meta": meta(t, "orderbook"),
        "venue": "sim",
        "symbol": SYMBOL,
        "sequence": sequence,
        "bid_price": bids[0][0] if bids else None,
        "bid_quantity": bids[0][1] if bids else None,
        "ask_price": asks[0][0] if asks else None,
        "ask_quantity": asks[0][1] if asks else None,
        "bids": depth_levels(bids),
        "asks": depth_levels(asks),
        "stale": False,
    }
    return Event(MD_BOOK_TOP, SYMBOL, BOOK_TOP, record, t)


def venues_engine() -> MemoryEngine:
    configured = Settings.from_env({"SQ_VENUES": VENUES})
    return MemoryEngine(
        [core_factory(name, configured) for name in ORDER_PATH], name="orderpath", codec=default_codec()
    )


BIDS = [(99 * P, 5 * Q)]
ASKS = [(100 * P, 2 * Q), (101 * P, 5 * Q)]


def test_a_smart_parent_sweeps_the_cheapest_venue_and_its_fills_carry_that_venues_fees() -> None:
    path = venues_engine()
    send_all(path, [depth_snapshot(1, BIDS, ASKS), trade(100 * P, Q), book_top(BIDS, ASKS, t=T0)])
    parent_id, new = parent("smart", instruction("SMART"), quantity=4 * Q, order_type="LIMIT", price=101 * P)
    path.send(new)
    # cheap's 500 us latency: a later event of the symbol (a trade) lets the venue handle the child
    send_all(path, [*ticks(T0 + S, T0 + 2 * S), trade(100 * P, Q, t=T0 + 3 * S)])
    (child,) = children(path, parent_id)
    assert (child["venue"], child["quantity"], child["price"], child["time_in_force"]) == (
        "cheap",
        4 * Q,
        101 * P,
        "IOC",
    )
    fills = [r for r in path.records(VENUE_EXECUTIONS) if r["exec_type"] == "FILL"]
    assert [(f["venue"], f["last_quantity"], f["last_price"], f["fee"]) for f in fills] == [
        ("cheap", 2 * Q, 100 * P, fee_for(Price(100 * P), 2 * Q, 3)),
        ("cheap", 2 * Q, 101 * P, fee_for(Price(101 * P), 2 * Q, 3)),
    ]
    assert last_event(path, parent_id)["status"] == "FILLED"


def test_what_the_book_does_not_show_waits_for_the_next_book_change() -> None:
    path = venues_engine()
    send_all(path, [depth_snapshot(1, BIDS, ASKS), trade(100 * P, Q), book_top(BIDS, ASKS, t=T0)])
    parent_id, new = parent("rest", instruction("SMART"), quantity=5 * Q, order_type="LIMIT", price=100 * P)
    path.send(new)
    send_all(path, [*ticks(T0 + S, T0 + 2 * S), trade(100 * P, Q, t=T0 + 3 * S)])
    assert [c["quantity"] for c in children(path, parent_id)] == [2 * Q]  # all that shows at 100
    assert last_event(path, parent_id)["status"] == "PARTIALLY_FILLED"
    more = [(100 * P, 4 * Q), (101 * P, 5 * Q)]
    send_all(path, [depth_snapshot(2, BIDS, more, t=T0 + 4 * S), book_top(BIDS, more, t=T0 + 4 * S, sequence=2)])
    send_all(path, [trade(100 * P, Q, t=T0 + 5 * S)])
    assert [c["quantity"] for c in children(path, parent_id)] == [2 * Q, 3 * Q]  # the remainder, re-planned
    assert last_event(path, parent_id)["status"] == "FILLED"
    assert last_event(path, parent_id)["cum_quantity"] == 5 * Q


def test_the_router_keeps_the_consolidated_view_of_the_feeds_and_drops_a_stale_one() -> None:
    router = RouterCore(parse_venues(VENUES))
    router.apply(book_top(BIDS, ASKS, t=T0))
    other = book_top([(995 * P // 10, 1 * Q)], [(1005 * P // 10, 1 * Q)], t=T0 + 1)
    other = Event(other.topic, other.key, other.schema, {**other.record, "venue": "other-feed"}, other.ingest_time_us)
    router.apply(other)
    bids, asks = router.market_view(SYMBOL)
    assert (bids[0], asks[0]) == ((995 * P // 10, 1 * Q), (100 * P, 2 * Q))  # the consolidated best bid and offer
    gone = book_top([], [], t=T0 + 2)
    stale = Event(gone.topic, gone.key, gone.schema, {**gone.record, "venue": "other-feed", "stale": True}, T0 + 2)
    router.apply(stale)
    assert router.market_view(SYMBOL) == (BIDS, ASKS)
    restored = RouterCore()
    restored.restore_broadcast(router.broadcast_state())
    assert restored.market_view(SYMBOL) == (BIDS, ASKS)
