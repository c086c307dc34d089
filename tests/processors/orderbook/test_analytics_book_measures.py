"""Spread, mid, microprice and depth imbalance against hand-computed values."""

from __future__ import annotations

import pytest
from _book_builders import MS, T0, P, Q, analytics, run, snapshot, update

from processors.orderbook.analytics.depth_imbalance import depth_imbalance
from processors.orderbook.analytics.microprice import microprice
from processors.orderbook.analytics.spread_mid import mid, spread
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore


def test_spread_and_mid_in_price_units() -> None:
    assert spread(100 * P, 100 * P + P // 2) == pytest.approx(0.5)
    assert mid(100 * P, 101 * P) == pytest.approx(100.5)


def test_microprice_leans_towards_the_side_with_less_size() -> None:
    # bid 100 x 1, ask 101 x 3: (100 * 3 + 101 * 1) / 4 = 100.25, nearer the bid (the heavier ask side)
    assert microprice(100 * P, 1 * Q, 101 * P, 3 * Q) == pytest.approx(100.25)
    assert microprice(100 * P, 3 * Q, 101 * P, 1 * Q) == pytest.approx(100.75)


def test_depth_imbalance_is_the_normalised_difference() -> None:
    assert depth_imbalance(6 * Q, 2 * Q) == pytest.approx(0.5)  # (6 - 2) / 8
    assert depth_imbalance(0, 5 * Q) == pytest.approx(-1.0)
    assert depth_imbalance(0, 0) is None


def test_core_publishes_the_book_measures_of_the_book_at_the_boundary() -> None:
    core = OrderBookCore(OrderBookConfig(analytics_lateness_us=0, interval_us=100 * MS, imbalance_levels=2))
    bids = [(100 * P, 1 * Q), (99 * P, 2 * Q), (98 * P, 50 * Q)]  # the third level is beyond N = 2
    asks = [(101 * P, 3 * Q), (102 * P, 1 * Q)]
    events = [
        snapshot(10, bids, asks, t=T0 + 10 * MS),
        update(11, bids=[(100 * P, 2 * Q)], t=T0 + 50 * MS),  # still before the boundary at T0 + 100 ms
        update(12, bids=[(100 * P, 9 * Q)], t=T0 + 120 * MS),  # after it: not in the window's values
    ]
    [record] = analytics(run(core, events))
    assert record["window_end_us"] == T0 + 100 * MS
    assert record["meta"]["event_time_us"] == T0 + 100 * MS
    assert record["spread"] == pytest.approx(1.0)
    assert record["mid"] == pytest.approx(100.5)
    assert record["microprice"] == pytest.approx((100 * 3 + 101 * 2) / 5)
    assert record["depth_imbalance"] == pytest.approx(((2 + 2) - (3 + 1)) / 8)


def test_stale_book_gives_no_book_measures() -> None:
    core = OrderBookCore(OrderBookConfig(analytics_lateness_us=0, interval_us=100 * MS))
    events = [
        snapshot(10, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 10 * MS),
        update(15, t=T0 + 20 * MS),
        update(16, t=T0 + 150 * MS),
    ]
    [record] = analytics(run(core, events))
    assert record["mid"] is None and record["spread"] is None and record["microprice"] is None
