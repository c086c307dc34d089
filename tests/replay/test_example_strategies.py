"""The example strategies on four minutes of the shipped sample: they keep to what their docstrings promise."""

from __future__ import annotations

from replay.backtest.data import SAMPLE, data_paths, market_events
from replay.backtest.engine import BacktestConfig, run_backtest
from schemas.scales import QUANTITY_SCALE
from tests.kit.backtest import T0, S

WINDOW_END = T0 + 240 * S


def test_the_market_maker_only_makes_never_trades_with_itself_and_keeps_its_position_limit() -> None:
    config = BacktestConfig("market_maker", {"half_spread": "0.5", "max_position": "0.02"}, end_us=WINDOW_END)
    run = run_backtest(config, market_events(data_paths(SAMPLE)))
    fills = [e for e in run.order_events if e["last_quantity"]]
    assert fills, "the window must trade"
    assert {e["liquidity"] for e in fills} == {"MAKER"}  # its quotes never cross the book or each other
    assert all(abs(p["quantity"]) <= 2 * QUANTITY_SCALE // 100 for p in run.position_updates)


def test_momentum_holds_minus_size_zero_or_size() -> None:
    config = BacktestConfig("momentum", {"lookback_s": "10", "threshold_bps": "1"}, end_us=WINDOW_END)
    run = run_backtest(config, market_events(data_paths(SAMPLE)))
    size = QUANTITY_SCALE // 100
    assert run.position_updates
    assert {p["quantity"] for p in run.position_updates} <= {-size, 0, size}
    assert {c["order_type"] for c in run.commands} == {"MARKET"}
