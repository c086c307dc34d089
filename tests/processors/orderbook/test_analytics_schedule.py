"""The event-time schedule of the analytics: one record per boundary, deterministic, restorable."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from _book_builders import (
    MS,
    SYMBOL,
    T0,
    P,
    Q,
    S,
    analytics,
    interleave,
    run,
    session,
    snapshot,
    trade,
    update,
    without_ingest_time,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore
from topics.catalogue import MD_DEPTH, MD_TRADES

CONFIG = OrderBookConfig(
    analytics_lateness_us=0,
    interval_us=100 * MS,
    max_gap_intervals=5,
    vpin_bucket_volume=Q,
    vpin_buckets=3,
    kyle_min_observations=3,
    pin_period_us=200 * MS,
    pin_min_periods=2,
    pin_periods=10,
    pin_max_iterations=100,
)


def test_one_record_per_boundary_passed_with_the_boundary_as_its_time() -> None:
    core = OrderBookCore(CONFIG)
    events = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS), update(2, t=T0 + 350 * MS)]
    records = analytics(run(core, events))
    assert [r["window_end_us"] for r in records] == [T0 + 100 * MS, T0 + 200 * MS, T0 + 300 * MS]
    assert all(r["meta"]["event_time_us"] == r["window_end_us"] for r in records)


def test_nothing_is_published_within_an_interval() -> None:
    core = OrderBookCore(CONFIG)
    events = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS), update(2, t=T0 + 99 * MS)]
    assert analytics(run(core, events)) == []


def test_a_long_quiet_spell_restarts_the_windows_instead_of_filling_them() -> None:
    core = OrderBookCore(CONFIG)
    far = T0 + 10_000 * MS  # 100 intervals later, more than max_gap_intervals = 5
    events = [
        snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS),
        update(2, bids=[(100 * P, 2 * Q)], t=far + 10 * MS),
        update(3, t=far + 120 * MS),
    ]
    records = analytics(run(core, events))
    # the first interval, five quiet ones, then nothing until the book changes again
    assert [r["window_end_us"] for r in records] == [T0 + k * 100 * MS for k in range(1, 7)] + [far + 100 * MS]
    assert records[-1]["microprice"] == pytest.approx((100 * 1 + 101 * 2) / 3)
    assert records[-1]["realized_volatility"] is None  # no return spans the quiet spell


def test_replay_gives_the_same_numbers() -> None:
    events = session(5, 400)
    first = analytics(run(OrderBookCore(CONFIG), events))
    second = analytics(run(OrderBookCore(CONFIG), events))
    assert len(first) > 50
    assert first == second
    assert len({r["meta"]["event_id"] for r in first}) == len(first)
    for name in ("mid", "realized_volatility", "trade_flow_imbalance", "vpin", "kyle_lambda", "pin"):
        assert any(r[name] is not None for r in first), name


@pytest.mark.parametrize("lateness_us", [0, None])
def test_restored_core_continues_with_the_same_numbers(lateness_us: int | None) -> None:
    config = replace(CONFIG, analytics_lateness_us=lateness_us)
    events = interleave(session(9, 300), 3, max_run=40)  # open intervals and book samples wait at the split
    whole = run(OrderBookCore(config), events)
    before = OrderBookCore(config)
    head = run(before, events[:150])
    state = json.loads(json.dumps(before.state_changes()))  # the changelog holds JSON
    after = OrderBookCore(config)
    for key, value in state.items():
        after.restore(key, value)
    tail = run(after, events[150:])
    assert [e.record for e in head + tail] == [e.record for e in whole]
    assert set(state) == {SYMBOL}


def test_numbers_do_not_depend_on_how_the_inputs_interleave() -> None:
    """Live and replay read md.depth and md.trades in different interleavings: same records either way, even
    when one topic is read to its end before the other."""
    config = replace(CONFIG, analytics_lateness_us=None)
    events = session(21, 250)
    in_time_order = without_ingest_time(analytics(run(OrderBookCore(config), events)))
    assert len(in_time_order) > 40
    depth = [e for e in events if e.topic == MD_DEPTH]
    trades = [e for e in events if e.topic == MD_TRADES]
    for order in (depth + trades, trades + depth, interleave(events, 1, max_run=60)):
        assert without_ingest_time(analytics(run(OrderBookCore(config), order))) == in_time_order


def test_the_schedule_starts_at_the_earliest_input_whichever_arrives_first() -> None:
    config = replace(CONFIG, analytics_lateness_us=None)
    depth = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS), update(2, t=T0 + 450 * MS)]
    trades = [trade(101 * P, Q, "BUY", t=T0 + 320 * MS), trade(100 * P, Q, "SELL", t=T0 + 480 * MS)]
    depth_first = analytics(run(OrderBookCore(config), depth + trades))
    trades_first = analytics(run(OrderBookCore(config), trades + depth))
    assert [r["window_end_us"] for r in depth_first] == [T0 + k * 100 * MS for k in (1, 2, 3, 4)]
    assert without_ingest_time(trades_first) == without_ingest_time(depth_first)


def test_with_a_lateness_numbers_hold_while_the_inputs_stay_within_it() -> None:
    config = replace(CONFIG, analytics_lateness_us=10 * S)
    events = session(21, 250)
    in_time_order = without_ingest_time(analytics(run(OrderBookCore(config), events)))
    for seed in range(2):
        shuffled = interleave(events, seed, max_run=60)  # runs of 60 events: about a second of event time
        assert shuffled != events
        assert without_ingest_time(analytics(run(OrderBookCore(config), shuffled))) == in_time_order


def test_without_a_lateness_a_silent_input_holds_the_analytics_until_it_speaks() -> None:
    core = OrderBookCore(replace(CONFIG, analytics_lateness_us=None))
    events = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS), update(2, t=T0 + 250 * MS)]
    assert analytics(run(core, events)) == []
    records = analytics(run(core, [trade(101 * P, Q, "BUY", t=T0 + 330 * MS)]))
    assert [r["window_end_us"] for r in records] == [T0 + 100 * MS, T0 + 200 * MS]
    assert records[0]["mid"] == pytest.approx(100.5)


def test_a_silent_input_lets_the_other_close_boundaries_after_the_lateness() -> None:
    core = OrderBookCore(replace(CONFIG, analytics_lateness_us=300 * MS))
    events = [
        snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS),
        update(2, t=T0 + 150 * MS),
        update(3, t=T0 + 390 * MS),
    ]
    assert analytics(run(core, events)) == []  # 390 - 300 ms: the boundary at 100 ms is not closable yet
    [record] = analytics(run(core, [update(4, t=T0 + 420 * MS)]))
    assert record["window_end_us"] == T0 + 100 * MS and record["mid"] == pytest.approx(100.5)


def test_a_trade_after_its_interval_closed_counts_in_the_open_interval() -> None:
    core = OrderBookCore(replace(CONFIG, analytics_lateness_us=0, flow_intervals=1))
    events = [
        snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS),
        trade(101 * P, Q, "BUY", t=T0 + 150 * MS),  # closes the interval ending at 100 ms
        trade(100 * P, Q, "SELL", t=T0 + 90 * MS),  # late: joins the interval ending at 200 ms
        update(2, t=T0 + 210 * MS),
    ]
    records = analytics(run(core, events))
    assert [r["trade_flow_imbalance"] for r in records] == [None, pytest.approx(0.0)]


def test_end_of_input_closes_what_either_input_has_passed() -> None:
    core = OrderBookCore(replace(CONFIG, analytics_lateness_us=None))
    events = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS), update(2, t=T0 + 250 * MS)]
    assert analytics(run(core, events)) == []  # live, the silent trade input holds the boundaries back
    records = analytics(core.end_of_input(SYMBOL))
    assert [r["window_end_us"] for r in records] == [T0 + 100 * MS, T0 + 200 * MS]
    assert core.end_of_input(SYMBOL) == [] and core.end_of_input("ETHUSDT") == []


RANGES = {
    "depth_imbalance": (-1, 1),
    "trade_flow_imbalance": (-1, 1),
    "vpin": (0, 1),
    "pin": (0, 1),
    "realized_volatility": (0, math.inf),
    "spread": (0, math.inf),
}


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_bounded_measures_stay_in_their_ranges(seed: int) -> None:
    for record in analytics(run(OrderBookCore(CONFIG), session(seed, 150))):
        for name, (low, high) in RANGES.items():
            value = record[name]
            assert value is None or low <= value <= high, (name, value)
        if record["mid"] is not None:
            assert record["mid"] - record["spread"] / 2 <= record["microprice"] <= record["mid"] + record["spread"] / 2
