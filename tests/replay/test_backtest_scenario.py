"""A backtest small enough to work out by hand (tests/kit/backtest.py): the fills, fees, positions and PnL the
cores produce are the ones computed here from the tape and the venue's documented fees (maker 2, taker 5 bps).

By hand: the first trade (100.5) makes the strategy buy 2 at market; the book offers 101 → 2 @ 101 taker, fee
2 x 101 x 5 / 10,000 = 0.101. It then offers 1 @ 103; the trade at 103.5 prints through it → 1 @ 103 maker,
fee 103 x 2 / 10,000 = 0.0206, realized (103 - 101) x 1 = 2. The book ends 104 / 106: 1 left, marked at 105,
unrealized 4. Cash = -202 - 0.101 + 103 - 0.0206 = -99.1216; equity - initial = -99.1216 + 105 = 5.8784.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from replay.backtest.config import backtest_config
from replay.backtest.data import data_paths, market_events
from replay.backtest.engine import BacktestConfig, LatencyModel, run_backtest
from replay.backtest.session import run_to_directory
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE
from tests.kit.backtest import SCRIPTED, T0, S, write_scenario_tape


def test_the_backtest_agrees_with_the_hand_computed_fills_positions_pnl_and_fees(tmp_path: Path) -> None:
    tape = write_scenario_tape(tmp_path)
    results = run_to_directory(backtest_config(SCRIPTED, {}), str(tape), tmp_path / "out")

    fills = results.fills
    assert list(fills["side"]) == ["BUY", "SELL"]
    assert list(fills["quantity"]) == [2.0, 1.0] and list(fills["price"]) == [101.0, 103.0]
    assert list(fills["liquidity"]) == ["TAKER", "MAKER"]
    assert list(fills["fee"]) == pytest.approx([0.101, 0.0206], abs=1e-12)
    assert list(fills["realized_pnl"]) == pytest.approx([0.0, 2.0], abs=1e-12)
    assert list(fills["time_us"]) == [T0 + 1 * S, T0 + 3 * S]

    last = results.positions.iloc[-1]
    assert (last["quantity"], last["mark_price"], last["realized_pnl"]) == (1.0, 105.0, 2.0)
    assert last["fees"] == pytest.approx(0.1216, abs=1e-12)
    summary = results.summary
    assert summary["pnl"] == pytest.approx(5.8784, abs=1e-9)
    assert summary["fees"] == pytest.approx(0.1216, abs=1e-12)
    assert (summary["fills"], summary["closing_fills"], summary["hit_rate"]) == (2, 1, 1.0)
    assert summary["traded_notional"] == pytest.approx(305.0)
    assert pd.read_parquet(tmp_path / "out" / "fills.parquet").equals(fills)


def test_the_portfolio_core_books_the_same_position_in_fixed_point(tmp_path: Path) -> None:
    run = run_backtest(BacktestConfig(SCRIPTED), market_events(data_paths(str(write_scenario_tape(tmp_path)))))
    position = run.position_updates[-1]
    assert position["quantity"] == 1 * QUANTITY_SCALE
    assert position["avg_price"] == 101 * PRICE_SCALE
    assert position["realized_pnl"] == 2 * CASH_SCALE
    assert position["fees"] == 12_160_000  # 0.1216 at the cash scale, exact
    assert position["cash"] == -(99 * CASH_SCALE + 12_160_000)
    assert run.samples[-1]["equity"] == 100_005 * CASH_SCALE + 87_840_000


def test_order_latency_moves_the_fill_to_the_first_market_event_after_it(tmp_path: Path) -> None:
    """With 1.5 s order latency the market buy sent at 1 s reaches the venue at 2.5 s (its fill's event time);
    the venue has no clock, so it is handled when the next market event (3 s) arrives."""
    config = BacktestConfig(SCRIPTED, latency=LatencyModel(order_us=1_500_000))
    run = run_backtest(config, market_events(data_paths(str(write_scenario_tape(tmp_path)))))
    buys = [e for e in run.order_events if e["last_quantity"] and e["side"] == "BUY"]
    assert [e["meta"]["event_time_us"] for e in buys] == [T0 + 2 * S + 500_000]
    assert [e["meta"]["ingest_time_us"] for e in buys] == [T0 + 3 * S]


def test_market_data_latency_delays_what_the_strategy_decides(tmp_path: Path) -> None:
    config = BacktestConfig(SCRIPTED, latency=LatencyModel(market_data_us=500_000))
    run = run_backtest(config, market_events(data_paths(str(write_scenario_tape(tmp_path)))))
    assert run.commands[0]["meta"]["event_time_us"] == T0 + 1 * S + 500_000


def test_the_strategy_starts_at_from_and_nothing_after_to_is_played(tmp_path: Path) -> None:
    tape = str(write_scenario_tape(tmp_path))
    late = run_backtest(BacktestConfig(SCRIPTED, start_us=T0 + 2 * S), market_events(data_paths(tape)))
    assert late.commands[0]["meta"]["event_time_us"] == T0 + 3 * S  # the first trade it sees is the second
    early = run_backtest(BacktestConfig(SCRIPTED, end_us=T0 + 2 * S), market_events(data_paths(tape)))
    assert early.market_events == 2 and early.last_time_us == T0 + 1 * S
