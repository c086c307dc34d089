"""The event-time schedule of the analytics: one record per boundary, deterministic, restorable."""

from __future__ import annotations

import json

import numpy as np
from _book_builders import MS, SYMBOL, T0, P, Q, analytics, run, snapshot, trade, update

from processors.core import Event
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore

CONFIG = OrderBookConfig(interval_us=100 * MS, max_gap_intervals=5, vpin_bucket_volume=Q, vpin_buckets=3,
                         kyle_min_observations=3, pin_period_us=200 * MS, pin_min_periods=2,
                         pin_periods=10, pin_max_iterations=100)  # fmt: skip


def session(seed: int, steps: int) -> list[Event]:
    """A seeded random session: a snapshot, then updates and trades a few ms apart."""
    rng = np.random.default_rng(seed)
    events = [snapshot(1, [(100 * P, Q), (99 * P, Q)], [(101 * P, Q), (102 * P, Q)], t=T0 + 1 * MS)]
    t = T0 + 1 * MS
    update_id = 1
    for _ in range(steps):
        t += int(rng.integers(1, 40)) * MS
        if rng.random() < 0.5:
            update_id += 1
            side = "bids" if rng.random() < 0.5 else "asks"
            price = (int(rng.integers(95, 101)) if side == "bids" else int(rng.integers(101, 107))) * P
            quantity = int(rng.integers(0, 4)) * Q
            events.append(update(update_id, t=t, **{side: [(price, quantity)]}))
        else:
            aggressor = [None, "BUY", "SELL"][int(rng.integers(0, 3))]
            events.append(trade(int(rng.integers(99, 103)) * P, int(rng.integers(1, 5)) * Q // 2, aggressor, t=t))
    return events


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
    events = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS), update(2, t=far + 10 * MS),
              update(3, t=far + 120 * MS)]  # fmt: skip
    records = analytics(run(core, events))
    assert [r["window_end_us"] for r in records] == [T0 + 100 * MS, far + 100 * MS]
    assert records[1]["realized_volatility"] is None  # no return spans the quiet spell


def test_replay_gives_the_same_numbers() -> None:
    events = session(5, 400)
    first = analytics(run(OrderBookCore(CONFIG), events))
    second = analytics(run(OrderBookCore(CONFIG), events))
    assert len(first) > 50
    assert first == second
    for name in ("mid", "realized_volatility", "trade_flow_imbalance", "vpin", "kyle_lambda", "pin"):
        assert any(r[name] is not None for r in first), name


def test_restored_core_continues_with_the_same_numbers() -> None:
    events = session(9, 300)
    whole = run(OrderBookCore(CONFIG), events)
    before = OrderBookCore(CONFIG)
    head = run(before, events[:150])
    state = json.loads(json.dumps(before.state_changes()))  # the changelog holds JSON
    after = OrderBookCore(CONFIG)
    for key, value in state.items():
        after.restore(key, value)
    tail = run(after, events[150:])
    assert [e.record for e in head + tail] == [e.record for e in whole]
    assert set(state) == {SYMBOL}
