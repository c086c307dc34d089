"""Same data, strategy and configuration → byte-identical results (Parquet tables, summary, report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.backtest.config import backtest_config
from replay.backtest.data import SAMPLE
from replay.backtest.engine import backtest_core_names
from replay.backtest.session import run_to_directory
from tests.kit.backtest import T0, S

SETTINGS = {"latency": {"market_data_us": 2_000, "order_us": 5_000}}


@pytest.mark.parametrize("strategy", ["market_maker", "momentum"])
def test_two_runs_write_the_same_bytes(tmp_path: Path, strategy: str) -> None:
    outputs = []
    for run in ("a", "b"):
        params = {"lookback_s": "10", "threshold_bps": "1"} if strategy == "momentum" else {}
        config = backtest_config(strategy, SETTINGS, params=params, end_us=T0 + 240 * S)
        results = run_to_directory(config, SAMPLE, tmp_path / run)
        assert results.summary["fills"] > 0, "the window must trade, or the comparison proves little"
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())})
    assert set(outputs[0]) == {
        *(f"{t}.parquet" for t in ("orders", "fills", "positions", "equity")),
        "summary.json",
        "report.html",
    }
    for name, content in outputs[0].items():
        assert outputs[1][name] == content, f"{name} differs between two identical runs"


def test_the_backtest_runs_every_core_of_the_order_path_stage_and_the_order_book() -> None:
    names = backtest_core_names()
    assert {"risk", "oms", "venue", "portfolio", "orderbook"} <= set(names)
