"""One backtest from data to a results directory: what `sq backtest` and each run of a sweep do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from replay.backtest.data import TapeStats, data_paths, market_events
from replay.backtest.engine import BacktestConfig, run_backtest
from replay.backtest.report import write_report
from replay.backtest.results import BacktestResults, build_results, write_results


def run_to_directory(
    config: BacktestConfig,
    data: str,
    out: Path | None,
    on_progress: Callable[[int], None] | None = None,
) -> BacktestResults:
    """Run ``config`` on ``data`` (``sample``, a file or a directory); with ``out``, write the tables, the
    summary and ``report.html`` there."""
    stats = TapeStats()
    run = run_backtest(config, market_events(data_paths(data), stats), on_progress)
    if run.market_events == 0:
        raise ValueError(f"no market data in {data} between the given times")
    results = build_results(run)
    results.summary["malformed_rows"] = stats.malformed
    if out is not None:
        write_results(results, out)
        write_report(results, out / "report.html")
    return results
