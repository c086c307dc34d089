"""The venue filling against the market: walking the market's book, trades through resting orders, queue
estimates, latency in event time, taken liquidity, and the state round trip with broadcast state rebuilt first."""

from __future__ import annotations

import json
from typing import Any

from _market_builders import snapshot, trade, update
from _venue_builders import SYMBOL, T0, VENUE, P, Q, S, Sim, checked, fills, kinds, venue_order
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Event
from processors.venue import Fees, VenueConfig, VenueCore
from processors.venue.matching import fee_for
from processors.venue.state import symbol_state_key
from schemas.scales import Price
from topics.catalogue import MD_DEPTH, MD_TRADES

MAKER_BPS, TAKER_BPS = 2, 5


def market_sim(latency_us: int = 0, market_liquidity: bool = True) -> Sim:
    config = VenueConfig(
        default_fees=Fees(MAKER_BPS, TAKER_BPS), market_liquidity=market_liquidity, latency_us=latency_us
    )
    return Sim(VenueCore(config))


BOOK_BIDS = [(99 * P, 5 * Q), (98 * P, 5 * Q)]
BOOK_ASKS = [(100 * P, 1 * Q), (101 * P, 2 * Q), (102 * P, 3 * Q)]


def test_market_order_walks_three_levels_at_their_prices_with_taker_fees() -> None:
    sim = market_sim()
    assert sim.send(snapshot(BOOK_BIDS, BOOK_ASKS)) == []
    reports = sim.new("m1", "BUY", 4 * Q, None, order_type="MARKET", time_in_force="IOC")
    assert fills(reports) == [
        ("m1", "TAKER", 1 * Q, 100 * P),
        ("m1", "TAKER", 2 * Q, 101 * P),
        ("m1", "TAKER", 1 * Q, 102 * P),
    ]
    fill_reports = [r for r in reports if r["exec_type"] == "FILL"]
    notional = sum(r["last_quantity"] * r["last_price"] for r in fill_reports)
    assert notional == (100 + 2 * 101 + 102) * P * Q and notional // (4 * Q) == 101 * P  # VWAP 101: 1 of slippage
    assert [r["fee"] for r in fill_reports] == [
        fee_for(Price(100 * P), 1 * Q, TAKER_BPS),
        fee_for(Price(101 * P), 2 * Q, TAKER_BPS),
        fee_for(Price(102 * P), 1 * Q, TAKER_BPS),
    ]
    assert fill_reports[0]["fee"] == 5_000_000  # 100 x 1 x 5 bps = 0.05 in cash scale
    assert (fill_reports[-1]["cum_quantity"], fill_reports[-1]["leaves_quantity"]) == (4 * Q, 0)
    assert {r["account"] for r in reports} == {"acc-1"}  # the makers are the market's, not ours: no maker reports


def test_limit_order_takes_the_market_to_its_limit_then_rests_with_the_displayed_queue_ahead() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    reports = sim.new("l1", "BUY", 5 * Q, 101 * P)
    assert fills(reports) == [("l1", "TAKER", 1 * Q, 100 * P), ("l1", "TAKER", 2 * Q, 101 * P)]
    assert sim.depth("BUY") == [(101 * P, 2 * Q, 1)]
    book = sim.core.book(VENUE, SYMBOL)
    assert book is not None
    assert book.orders["l1"].queue_ahead == 0  # the market shows no bid at 101


def test_resting_buy_fills_when_a_trade_prints_below_its_price_whatever_the_queue() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("b1", "BUY", 2 * Q, 99 * P)  # behind 5 displayed at 99
    reports = sim.send(trade(98 * P, 1 * Q, t=T0 + S))
    assert fills(reports) == [("b1", "MAKER", 1 * Q, 99 * P)]
    assert reports[0]["fee"] == fee_for(Price(99 * P), 1 * Q, MAKER_BPS)
    assert (reports[0]["cum_quantity"], reports[0]["leaves_quantity"]) == (1 * Q, 1 * Q)
    assert sim.send(trade(100 * P, 1 * Q, t=T0 + 2 * S)) == []  # above a buy: not through it


def test_at_price_fills_only_after_the_queue_ahead_is_consumed_by_trades() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("b1", "BUY", 2 * Q, 99 * P)  # 5 displayed ahead at 99
    assert sim.send(trade(99 * P, 3 * Q, t=T0 + S)) == []  # 2 left ahead
    reports = sim.send(trade(99 * P, 3 * Q, t=T0 + 2 * S))  # 2 of it reach the queue, 1 reaches us
    assert fills(reports) == [("b1", "MAKER", 1 * Q, 99 * P)]
    reports = sim.send(trade(99 * P, 4 * Q, t=T0 + 3 * S))
    assert fills(reports) == [("b1", "MAKER", 1 * Q, 99 * P)]
    assert reports[0]["leaves_quantity"] == 0
    assert sim.depth("BUY") == []


def test_an_update_that_shrinks_the_level_shortens_the_queue_ahead() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    sim.send(update(101, bids=[(99 * P, 1 * Q)], t=T0 + S))  # cancels at 99: at most 1 can be ahead now
    assert fills(sim.send(trade(99 * P, 2 * Q, t=T0 + 2 * S))) == [("b1", "MAKER", 1 * Q, 99 * P)]


def test_a_trade_fills_our_orders_best_price_first_up_to_its_own_quantity() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("b1", "BUY", 2 * Q, 99 * P + 50)
    sim.new("b2", "BUY", 2 * Q, 99 * P + 90, account="acc-2")
    reports = sim.send(trade(99 * P, 3 * Q, t=T0 + S))
    assert fills(reports) == [("b2", "MAKER", 2 * Q, 99 * P + 90), ("b1", "MAKER", 1 * Q, 99 * P + 50)]
    assert [r["account"] for r in reports] == ["acc-2", "acc-1"]


def test_liquidity_taken_by_one_order_is_not_there_for_the_next_until_an_update_sets_the_level() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    assert fills(sim.new("m1", "BUY", 1 * Q, None, order_type="MARKET")) == [("m1", "TAKER", 1 * Q, 100 * P)]
    assert fills(sim.new("m2", "BUY", 1 * Q, None, order_type="MARKET")) == [("m2", "TAKER", 1 * Q, 101 * P)]
    sim.send(update(101, asks=[(102 * P, 1 * Q)], t=T0 + S))  # another level: 100 and 101 stay taken
    assert fills(sim.new("m3", "BUY", 2 * Q, None, order_type="MARKET", t=T0 + S)) == [
        ("m3", "TAKER", 1 * Q, 101 * P),
        ("m3", "TAKER", 1 * Q, 102 * P),
    ]
    sim.send(update(102, asks=[(100 * P, 3 * Q)], t=T0 + 2 * S))  # the level's new total replaces the taken one
    assert fills(sim.new("m4", "BUY", 1 * Q, None, order_type="MARKET", t=T0 + 2 * S)) == [
        ("m4", "TAKER", 1 * Q, 100 * P)
    ]


def test_internal_resting_orders_go_first_at_one_price_and_the_better_market_price_before_them() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("s1", "SELL", 1 * Q, 100 * P, account="acc-2")
    sim.new("s2", "SELL", 1 * Q, 100 * P + 50, account="acc-2")
    reports = sim.new("b1", "BUY", 4 * Q, 101 * P)
    assert fills(reports) == [
        ("b1", "TAKER", 1 * Q, 100 * P),
        ("s1", "MAKER", 1 * Q, 100 * P),  # ours first at 100
        ("b1", "TAKER", 1 * Q, 100 * P),  # then the market's 100
        ("b1", "TAKER", 1 * Q, 100 * P + 50),
        ("s2", "MAKER", 1 * Q, 100 * P + 50),
        ("b1", "TAKER", 1 * Q, 101 * P),
    ]


def test_post_only_that_would_take_the_market_is_rejected_and_fok_counts_market_liquidity() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    reports = sim.new("p1", "BUY", 1 * Q, 100 * P, post_only=True)
    assert (reports[0]["exec_type"], reports[0]["reject_reason"]) == ("REJECTED", "POST_ONLY_WOULD_TAKE")
    assert fills(sim.new("f1", "BUY", 3 * Q, 101 * P, time_in_force="FOK"))[-1] == ("f1", "TAKER", 2 * Q, 101 * P)
    reports = sim.new("f2", "BUY", 4 * Q, 102 * P, time_in_force="FOK")  # 3 left below 102
    assert kinds(reports) == [("f2", "ACK"), ("f2", "EXPIRED")]


def test_a_stale_market_book_offers_no_liquidity_until_a_new_snapshot() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.send(update(105, first=103, asks=[(100 * P, 9 * Q)], t=T0 + S))  # 101..102 missing: a gap
    reports = sim.new("m1", "BUY", 1 * Q, None, order_type="MARKET", t=T0 + S)
    assert kinds(reports) == [("m1", "ACK"), ("m1", "EXPIRED")]
    assert reports[-1]["reject_reason"] == "NO_LIQUIDITY"
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS, update_id=200, t=T0 + 2 * S))
    assert fills(sim.new("m2", "BUY", 1 * Q, None, order_type="MARKET", t=T0 + 2 * S)) == [
        ("m2", "TAKER", 1 * Q, 100 * P)
    ]


def test_latency_delays_matching_until_a_later_event_and_matches_against_the_book_then() -> None:
    sim = market_sim(latency_us=S)
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    assert sim.new("m1", "BUY", 1 * Q, None, order_type="MARKET", t=T0) == []  # on its way to the venue
    assert sim.send(update(101, asks=[(100 * P, 0), (99 * P + 50, 1 * Q)], t=T0 + S // 2)) == []
    assert sim.send(update(102, bids=[(98 * P, 6 * Q)], t=T0 + S)) == []  # at the ready time: not later yet
    reports = sim.send(update(103, asks=[(99 * P + 50, 0)], t=T0 + S + 1))  # later: m1 first, then the update
    assert kinds(reports) == [("m1", "ACK"), ("m1", "FILL")]
    assert fills(reports) == [("m1", "TAKER", 1 * Q, 99 * P + 50)]  # the price as of its ready time
    assert {r["meta"]["event_time_us"] for r in reports} == {T0 + S}


def test_latency_keeps_message_order_and_later_orders_release_earlier_ones() -> None:
    sim = market_sim(latency_us=S)
    assert sim.new("r1", "BUY", 1 * Q, 90 * P, t=T0) == []
    assert sim.cancel("r1", t=T0 + 1) == []
    reports = sim.new("r2", "BUY", 1 * Q, 90 * P, t=T0 + 2 * S)
    assert kinds(reports) == [("r1", "ACK"), ("r1", "CANCELLED")]  # r2 itself waits for its own second
    assert [r["meta"]["event_time_us"] for r in reports] == [T0 + S, T0 + S + 1]


def test_market_liquidity_off_ignores_market_data() -> None:
    sim = market_sim(market_liquidity=False)
    assert sim.send(snapshot(BOOK_BIDS, BOOK_ASKS)) == []
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    assert sim.send(trade(98 * P, 1 * Q, t=T0 + S)) == []
    reports = sim.new("m1", "SELL", 1 * Q, None, order_type="MARKET", account="acc-2")
    assert fills(reports) == [("m1", "TAKER", 1 * Q, 99 * P), ("b1", "MAKER", 1 * Q, 99 * P)]


def test_market_data_of_a_symbol_without_orders_here_changes_no_keyed_state() -> None:
    core = VenueCore()
    assert core.apply(snapshot(BOOK_BIDS, BOOK_ASKS)) == []
    assert core.apply(trade(99 * P, 1 * Q)) == []
    assert core.state_changes() == {}


def test_a_trade_through_triggers_a_resting_stop() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("st", "SELL", 1 * Q, None, order_type="STOP", stop_price=98 * P + 50)
    reports = sim.send(trade(98 * P, 1 * Q, t=T0 + S))
    assert kinds(reports) == [("st", "TRIGGERED"), ("st", "FILL")]
    assert fills(reports) == [("st", "TAKER", 1 * Q, 99 * P)]  # into the market's best bid


def _scenario_before() -> list[Event]:
    return [
        snapshot(BOOK_BIDS, BOOK_ASKS),
        venue_order("NEW", "b1", side="BUY", quantity=3 * Q, price=99 * P, t=T0),
        venue_order("NEW", "m1", side="BUY", quantity=1 * Q, order_type="MARKET", t=T0 + 1),
        trade(99 * P, 4 * Q, t=T0 + 2),  # 1 left ahead of b1
        venue_order("NEW", "s1", side="SELL", quantity=1 * Q, price=105 * P, account="acc-2", t=T0 + 3),
    ]


def _scenario_after() -> list[Event]:
    return [
        venue_order("NEW", "m2", side="BUY", quantity=1 * Q, order_type="MARKET", t=T0 + 3 * S),
        trade(99 * P, 2 * Q, t=T0 + 3 * S + 1),
        update(101, asks=[(100 * P, 2 * Q)], t=T0 + 3 * S + 2),
        venue_order("NEW", "m3", side="BUY", quantity=2 * Q, order_type="MARKET", t=T0 + 5 * S),
        trade(98 * P, 5 * Q, t=T0 + 5 * S + 1),
    ]


def _run(core: VenueCore, events: list[Event]) -> list[dict[str, Any]]:
    return [record for event in events for record in checked(core.apply(event))]


def _restore(core: VenueCore, saved: dict[str, Any]) -> None:
    """Every record of a changelog read back (a tombstone: its key is gone)."""
    for key, state in saved.items():
        if state is not None:
            core.restore(key, state)


def test_state_round_trip_with_broadcast_state_rebuilt_first_continues_identically() -> None:
    config = VenueConfig(default_fees=Fees(MAKER_BPS, TAKER_BPS), latency_us=S)
    live = VenueCore(config)
    before = _scenario_before()
    _run(live, before)
    saved = json.loads(json.dumps(live.state_changes()))  # what the changelog holds (JSON)
    pending = [key for key in saved if key.startswith(f"{SYMBOL}|pending|")]
    assert pending and saved[symbol_state_key(SYMBOL)]["market_taken"] == []  # still waiting: nothing taken

    rebuilt = VenueCore(config)
    market_history = [event for event in before if event.topic in (MD_DEPTH, MD_TRADES)]
    assert _run(rebuilt, market_history) == []  # replayed broadcast meets no orders: emits nothing
    _restore(rebuilt, saved)
    after = _scenario_after()
    assert _run(rebuilt, after) == _run(live, after)
    assert json.loads(json.dumps(rebuilt.state_changes())) == json.loads(json.dumps(live.state_changes()))


def test_taken_liquidity_survives_a_restore_unless_an_update_set_the_level_since() -> None:
    live = market_sim()
    live.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    live.new("m1", "BUY", 1 * Q, None, order_type="MARKET")
    saved = json.loads(json.dumps(live.core.state_changes()))
    assert saved[symbol_state_key(SYMBOL)]["market_taken"] == [["SELL", 100 * P, 1 * Q, 100]]
    for later_updates, expected in (([], 101 * P), ([update(101, asks=[(100 * P, 1 * Q)], t=T0 + 1)], 100 * P)):
        rebuilt = market_sim()
        rebuilt.send(snapshot(BOOK_BIDS, BOOK_ASKS))
        for event in later_updates:
            rebuilt.send(event)
        _restore(rebuilt.core, saved)
        assert fills(rebuilt.new("m2", "BUY", 1 * Q, None, order_type="MARKET", t=T0 + 2))[0][3] == expected


def test_every_record_of_a_mixed_session_encodes_and_ids_are_unique() -> None:
    sim = market_sim(latency_us=S // 10)
    records = [record for event in [*_scenario_before(), *_scenario_after()] for record in sim.send(event)]
    assert records  # checked() encoded each with default_codec()
    ids = [r["meta"]["event_id"] for r in records]
    assert len(ids) == len(set(ids))
    assert all(r["fill_id"] == r["meta"]["event_id"] for r in records if r["exec_type"] == "FILL")


market_events = st.lists(
    st.one_of(
        st.tuples(
            st.just("order"),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(95, 105),
            st.integers(1, 4),
            st.sampled_from(["LIMIT", "LIMIT", "MARKET"]),
        ),
        st.tuples(st.just("trade"), st.integers(95, 105), st.integers(1, 6)),
        st.tuples(st.just("update"), st.sampled_from(["BUY", "SELL"]), st.integers(95, 105), st.integers(0, 6)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(market_events)
def test_internal_book_never_crossed_and_fills_never_exceed_orders(steps: list[tuple[Any, ...]]) -> None:
    sim = market_sim()
    sim.send(snapshot([(99 * P, 3 * Q), (97 * P, 3 * Q)], [(101 * P, 3 * Q), (103 * P, 3 * Q)]))
    update_id = 100
    quantities: dict[str, int] = {}
    filled: dict[str, int] = {}
    for i, step in enumerate(steps):
        t = T0 + (i + 1) * S
        if step[0] == "order":
            _, side, price, quantity, order_type = step
            order_id = f"o{i}"
            quantities[order_id] = quantity * Q
            reports = sim.new(
                order_id,
                side,
                quantity * Q,
                price * P if order_type == "LIMIT" else None,
                order_type=order_type,
                account=f"acc-{i % 3}",
                t=t,
            )
        elif step[0] == "trade":
            reports = sim.send(trade(step[1] * P, step[2] * Q, t=t))
        else:
            update_id += 1
            _, side, price, quantity = step
            levels = [(price * P, quantity * Q)]
            reports = sim.send(
                update(update_id, bids=levels if side == "BUY" else [], asks=levels if side == "SELL" else [], t=t)
            )
        for report in reports:
            if report["exec_type"] == "FILL":
                filled[report["order_id"]] = filled.get(report["order_id"], 0) + report["last_quantity"]
        bid, ask = sim.depth("BUY"), sim.depth("SELL")
        assert not bid or not ask or bid[0][0] < ask[0][0]
    assert all(filled[order_id] <= quantities[order_id] for order_id in filled)


def test_market_data_replayed_after_a_restore_is_not_applied_to_the_orders_again() -> None:
    """Keyed state restored first, then the whole market history (the faust engine's order, or a kafka engine
    whose broadcast drain returned before the end): what the saved orders met does not fill them twice."""
    config = VenueConfig(default_fees=Fees(MAKER_BPS, TAKER_BPS), latency_us=S)
    live = VenueCore(config)
    before = _scenario_before()
    _run(live, before)
    saved = json.loads(json.dumps(live.state_changes()))

    rebuilt = VenueCore(config)
    _restore(rebuilt, saved)
    assert _run(rebuilt, [event for event in before if event.topic in (MD_DEPTH, MD_TRADES)]) == []
    after = _scenario_after()
    assert _run(rebuilt, after) == _run(live, after)


def test_a_replayed_trade_through_a_restored_order_fills_nothing_but_a_new_one_does() -> None:
    live = market_sim()
    book_event, first_trade = snapshot(BOOK_BIDS, BOOK_ASKS), trade(99 * P + 50, 1 * Q, t=T0 + S)
    live.send(book_event)
    live.new("b1", "BUY", 2 * Q, 99 * P + 75)  # inside the spread: rests whole
    assert fills(live.send(first_trade)) == [("b1", "MAKER", 1 * Q, 99 * P + 75)]
    saved = json.loads(json.dumps(live.core.state_changes()))
    rebuilt = market_sim()
    _restore(rebuilt.core, saved)
    assert rebuilt.send(book_event) == [] and rebuilt.send(first_trade) == []
    reports = rebuilt.send(trade(99 * P + 50, 1 * Q, t=T0 + S))  # same time, another trade: new
    assert [(r["order_id"], r["cum_quantity"]) for r in reports] == [("b1", 2 * Q)]


def test_market_data_moves_the_clock_so_a_gtd_order_expires_before_a_later_trade_can_fill_it() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("g1", "BUY", 1 * Q, 99 * P + 50, time_in_force="GTD", expire_time_us=T0 + S)
    late_trade = trade(98 * P, 1 * Q, t=T0 + S)
    reports = sim.send(late_trade)
    assert kinds(reports) == [("g1", "EXPIRED")]
    meta = reports[0]["meta"]
    assert (meta["causation_id"], meta["correlation_id"]) == (late_trade.record["meta"]["event_id"], "story-g1")
    assert sim.depth("BUY") == []


def test_a_trade_printed_before_the_order_came_to_rest_does_not_fill_it_however_late_it_arrives() -> None:
    sim = market_sim()
    sim.send(snapshot(BOOK_BIDS, BOOK_ASKS))
    sim.new("b1", "BUY", 1 * Q, 99 * P + 50, t=T0 + 2 * S)
    assert sim.send(trade(99 * P, 1 * Q, t=T0 + S)) == []  # the trades topic lagging: printed before b1 rested
    assert fills(sim.send(trade(99 * P, 1 * Q, t=T0 + 2 * S))) == [("b1", "MAKER", 1 * Q, 99 * P + 50)]


def test_trades_read_before_a_restore_fill_the_restored_orders_at_the_next_event_with_the_live_ids() -> None:
    live = market_sim()
    book_event, first, second = (
        snapshot(BOOK_BIDS, BOOK_ASKS),
        trade(99 * P, 1 * Q, t=T0 + S),
        trade(99 * P, 1 * Q, t=T0 + 2 * S),
    )
    live.send(book_event)
    live.new("b1", "BUY", 2 * Q, 99 * P + 50)
    live.send(first)
    saved = json.loads(json.dumps(live.core.state_changes()))
    live_second = live.send(second)  # what the worker would have emitted, had it lived on
    assert fills(live_second) == [("b1", "MAKER", 1 * Q, 99 * P + 50)]

    rebuilt = market_sim()
    assert [rebuilt.send(event) for event in (book_event, first, second)] == [[], [], []]  # no orders yet
    _restore(rebuilt.core, saved)
    later = update(101, bids=[(98 * P, 6 * Q)], t=T0 + 3 * S)
    assert rebuilt.send(later) == live_second  # the second trade's fill, first trade not again
    assert rebuilt.send(trade(99 * P, 1 * Q, t=T0 + 4 * S)) == []  # b1 is done


def _events_of(steps: list[tuple[Any, ...]]) -> list[Event]:
    events = [snapshot([(99 * P, 3 * Q), (97 * P, 3 * Q)], [(101 * P, 3 * Q), (103 * P, 3 * Q)])]
    update_id = 100
    for i, step in enumerate(steps):
        t = T0 + (i + 1) * S // 2
        if step[0] == "order":
            _, side, price, quantity, order_type = step
            events.append(
                venue_order(
                    "NEW",
                    f"o{i}",
                    side=side,
                    quantity=quantity * Q,
                    order_type=order_type,
                    price=price * P if order_type == "LIMIT" else None,
                    account=f"acc-{i % 3}",
                    t=t,
                )
            )
        elif step[0] == "trade":
            events.append(trade(step[1] * P, step[2] * Q, t=t))
        else:
            update_id += 1
            _, side, price, quantity = step
            levels = [(price * P, quantity * Q)]
            events.append(
                update(update_id, bids=levels if side == "BUY" else [], asks=levels if side == "SELL" else [], t=t)
            )
    return events


@settings(max_examples=60, deadline=None)
@given(market_events, st.integers(0, 40), st.booleans(), st.sampled_from([0, S]))
def test_a_core_rebuilt_at_any_point_in_either_order_continues_exactly_as_the_live_one(
    steps: list[tuple[Any, ...]], split: int, history_first: bool, latency_us: int
) -> None:
    events = _events_of(steps)
    split = min(split, len(events))
    config = VenueConfig(default_fees=Fees(MAKER_BPS, TAKER_BPS), latency_us=latency_us)
    live = VenueCore(config)
    _run(live, events[:split])
    saved = json.loads(json.dumps(live.state_changes()))
    history = [event for event in events[:split] if event.topic in (MD_DEPTH, MD_TRADES)]

    rebuilt = VenueCore(config)
    if history_first:  # the kafka engine's intended order
        assert _run(rebuilt, history) == []
    _restore(rebuilt, saved)
    if not history_first:  # the faust engine's order, or a kafka engine drain that ended early
        assert _run(rebuilt, history) == []
    assert _run(rebuilt, events[split:]) == _run(live, events[split:])
