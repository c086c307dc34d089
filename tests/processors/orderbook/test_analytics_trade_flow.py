"""Trade signs (aggressor, tick rule) and the trade-flow imbalance."""

from __future__ import annotations

import pytest
from _book_builders import MS, T0, P, Q, analytics, run, snapshot, trade

from processors.orderbook.analytics.trade_flow import trade_flow_imbalance, trade_sign
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore


def test_aggressor_side_signs_the_trade() -> None:
    assert trade_sign("BUY", 100, 200, -1) == 1
    assert trade_sign("SELL", 300, 200, 1) == -1


def test_tick_rule_signs_trades_without_an_aggressor() -> None:
    assert trade_sign(None, 101, 100, -1) == 1  # uptick
    assert trade_sign(None, 99, 100, 1) == -1  # downtick
    assert trade_sign(None, 100, 100, -1) == -1  # zero tick keeps the previous sign
    assert trade_sign(None, 100, None, 0) == 0  # nothing to compare with


def test_imbalance_is_signed_volume_over_volume() -> None:
    assert trade_flow_imbalance(3 * Q, 1 * Q) == pytest.approx(0.5)
    assert trade_flow_imbalance(0, 0) is None


def test_core_counts_the_trades_of_the_window() -> None:
    core = OrderBookCore(OrderBookConfig(analytics_lateness_us=0, interval_us=100 * MS, flow_intervals=2))
    events = [
        snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 1 * MS),
        trade(101 * P, 4 * Q, "BUY", t=T0 + 10 * MS),  # interval 1: buy 4
        trade(100 * P, 1 * Q, None, t=T0 + 150 * MS),  # interval 2: downtick, sell 1
        trade(100 * P, 1 * Q, None, t=T0 + 160 * MS),  # zero tick: sell 1
        trade(101 * P, 2 * Q, "BUY", t=T0 + 250 * MS),  # interval 3: buy 2
        trade(100 * P, 8 * Q, "SELL", t=T0 + 350 * MS),  # interval 4 (not closed: no event after it)
    ]
    records = analytics(run(core, events))
    assert [r["trade_flow_imbalance"] for r in records] == pytest.approx(
        [
            1.0,  # (4 - 0) / 4
            (4 - 2) / 6,  # intervals 1 and 2
            (2 - 2) / 4,  # intervals 2 and 3
        ]
    )
