"""Kyle's lambda and its t-statistic against scipy's linear regression."""

from __future__ import annotations

import numpy as np
import pytest
from _book_builders import MS, T0, P, Q, analytics, run, snapshot, trade, update
from scipy.stats import linregress

from processors.orderbook.analytics.kyle import kyle_lambda
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore


def test_lambda_and_t_statistic_match_ordinary_least_squares() -> None:
    rng = np.random.default_rng(11)
    flow = rng.normal(0.0, 5.0, 200)
    price_changes = 0.02 + 0.3 * flow + rng.normal(0.0, 1.0, 200)
    reference = linregress(flow, price_changes)
    fitted = kyle_lambda(price_changes.tolist(), flow.tolist())
    assert fitted is not None
    slope, t = fitted
    assert slope == pytest.approx(reference.slope, rel=1e-10)
    assert t == pytest.approx(reference.slope / reference.stderr, rel=1e-9)


def test_hand_example_with_three_points() -> None:
    # Q = (-1, 0, 1), dP = (-2, 1, 2): lambda = S_qp / S_qq = (2 + 0 + 2) / 2 = 2, intercept 1/3;
    # residuals (-1/3, 2/3, -1/3): s^2 = (6/9) / 1, se = sqrt(s^2 / 2) = sqrt(1/3), t = 2 * sqrt(3)
    fitted = kyle_lambda([-2.0, 1.0, 2.0], [-1.0, 0.0, 1.0])
    assert fitted is not None
    assert fitted[0] == pytest.approx(2.0)
    assert fitted[1] == pytest.approx(2 * np.sqrt(3))


def test_no_lambda_without_enough_points_or_varying_flow() -> None:
    assert kyle_lambda([1.0, 2.0], [1.0, 2.0]) is None
    assert kyle_lambda([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) is None
    assert kyle_lambda([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], min_observations=5) is None


def test_exact_fit_has_no_t_statistic() -> None:
    fitted = kyle_lambda([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert fitted is not None and fitted[0] == pytest.approx(2.0) and fitted[1] is None


def test_core_regresses_mid_changes_on_the_signed_flow_of_each_interval() -> None:
    core = OrderBookCore(OrderBookConfig(analytics_lateness_us=0, interval_us=100 * MS, kyle_min_observations=3))
    events = [snapshot(1, [(100 * P, Q)], [(102 * P, Q)], t=T0 + 1 * MS)]  # mid 101 at the first boundary
    # per interval: signed flow, then the new touch (bid, ask) before the next boundary
    steps = [(2, (101, 103)), (-1, (100, 102)), (3, (102, 104)), (0, (101, 103))]
    update_id = 1
    for index, (flow, (bid, ask)) in enumerate(steps, start=1):
        start = T0 + index * 100 * MS
        side = "BUY" if flow > 0 else "SELL"
        if flow:
            events.append(trade(101 * P, abs(flow) * Q, side, t=start + 10 * MS))
        update_id += 1
        bids = [(x * P, Q if x == bid else 0) for x in range(99, 106)]
        asks = [(x * P, Q if x == ask else 0) for x in range(99, 106)]
        events.append(update(update_id, bids=bids, asks=asks, t=start + 20 * MS))
    events.append(update(update_id + 1, t=T0 + 550 * MS))
    records = analytics(run(core, events))
    mids = [r["mid"] for r in records]
    assert mids == pytest.approx([101.0, 102.0, 101.0, 103.0, 102.0])
    reference = linregress([2.0, -1.0, 3.0, 0.0], np.diff(mids))
    assert records[-1]["kyle_lambda"] == pytest.approx(reference.slope)
    assert records[-1]["kyle_lambda_t"] == pytest.approx(reference.slope / reference.stderr)
    assert records[2]["kyle_lambda"] is None  # two observations so far
