"""Realized volatility of log mid returns against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from _book_builders import MS, T0, P, Q, analytics, run, snapshot, update

from processors.orderbook.analytics.realized_vol import log_returns, realized_volatility
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore


def test_realized_volatility_is_the_root_sum_of_squared_log_returns() -> None:
    mids = [100.0, 101.0, 99.5, 100.0]
    returns = np.diff(np.log(mids))
    assert realized_volatility(mids) == pytest.approx(float(np.sqrt(np.sum(returns**2))))


def test_unknown_mids_break_the_returns_around_them() -> None:
    assert log_returns([100.0, None, 102.0, 103.0]) == pytest.approx([np.log(103.0 / 102.0)])
    assert realized_volatility([100.0, None, 102.0]) is None  # no return at all
    assert realized_volatility([100.0, 101.0]) is None  # one return is below the minimum of two


def test_core_uses_the_mid_at_each_boundary_over_the_window() -> None:
    core = OrderBookCore(OrderBookConfig(analytics_lateness_us=0, interval_us=100 * MS, vol_window=2))
    # mids at the boundaries 100, 200, 300, 400 ms: 100.5, 101.5, 100.5, 102.5
    events = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 50 * MS)]
    moves = [(101, 102), (100, 101), (102, 103)]
    for step, (bid, ask) in enumerate(moves, start=1):
        # one update moves the touch: the new levels in, every other level out
        bids = [(x * P, Q if x == bid else 0) for x in (100, 101, 102)]
        asks = [(x * P, Q if x == ask else 0) for x in (101, 102, 103)]
        events.append(update(step + 1, bids=bids, asks=asks, t=T0 + step * 100 * MS + 50 * MS))
    events.append(update(5, t=T0 + 450 * MS))
    records = analytics(run(core, events))
    assert [r["mid"] for r in records] == pytest.approx([100.5, 101.5, 100.5, 102.5])
    window = np.diff(np.log([101.5, 100.5, 102.5]))  # vol_window = 2 returns
    assert records[-1]["realized_volatility"] == pytest.approx(float(np.sqrt(np.sum(window**2))))
    assert records[0]["realized_volatility"] is None
