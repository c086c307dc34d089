"""VPIN with bulk volume classification against a worked example (normal CDF from scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from _book_builders import MS, T0, P, Q, analytics, run, snapshot, trade
from scipy.stats import norm

from processors.orderbook.analytics.vpin import VolumeBuckets, buy_fraction, normal_cdf
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore


def test_normal_cdf_matches_scipy() -> None:
    for x in (-3.0, -0.7071, 0.0, 0.5, 2.2):
        assert normal_cdf(x) == pytest.approx(float(norm.cdf(x)), abs=1e-12)


def test_buy_fraction_is_one_half_without_a_sigma() -> None:
    assert buy_fraction(1.5, 0.0) == 0.5


def test_worked_example_of_buckets_and_vpin() -> None:
    buckets = VolumeBuckets(bucket_volume=10 * Q, buckets=2, sigma_bars=50)
    buckets.add_bar(100 * P, 5 * Q)  # first bar: the reference close only
    buckets.add_bar(101 * P, 10 * Q)  # dP = +1, one change: sigma undefined, half buys -> bucket 1 balanced
    assert buckets.vpin() is None  # one full bucket of the two needed
    buckets.add_bar(100 * P, 15 * Q)  # dP = -1: sigma = std([1, -1], ddof=1) = sqrt(2)
    f = float(norm.cdf(-1 / np.sqrt(2)))
    # bucket 2 takes 10 at buy fraction f; 5 spill into bucket 3
    assert buckets.vpin() == pytest.approx((0 + abs(20 * f - 10)) / 20)
    buckets.add_bar(102 * P, 5 * Q)  # dP = +2 fills bucket 3 with the spilled 5 and 5 more
    g = float(norm.cdf(2 / np.std([1.0, -1.0, 2.0], ddof=1)))
    bucket_3 = abs(2 * (5 * f + 5 * g) - 10)
    assert buckets.vpin() == pytest.approx((abs(20 * f - 10) + bucket_3) / 20)


def test_bars_without_volume_change_nothing() -> None:
    buckets = VolumeBuckets(bucket_volume=Q, buckets=1, sigma_bars=5)
    buckets.add_bar(100 * P, 0)
    assert buckets.last_close is None and not buckets.changes


def test_core_pours_each_interval_into_buckets() -> None:
    config = OrderBookConfig(
        analytics_lateness_us=0,
        interval_us=100 * MS,
        vpin_bucket_volume=2 * Q,
        vpin_buckets=1,
        vpin_bucket_volume_by_symbol={"ETHUSDT": 100 * Q},
    )
    core = OrderBookCore(config)
    events = [
        snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 1 * MS),
        trade(100 * P, 1 * Q, "BUY", t=T0 + 10 * MS),  # bar 1: reference close 100
        trade(101 * P, 2 * Q, "BUY", t=T0 + 110 * MS),  # bar 2: +1, sigma undefined: half buys, one bucket
        trade(101 * P, 1 * Q, "BUY", t=T0 + 210 * MS),  # closes bar 2
    ]
    records = analytics(run(core, events))
    assert [r["vpin"] for r in records] == [None, pytest.approx(0.0)]
