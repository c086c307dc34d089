"""One backtest from data to a results directory: what `sq backtest` and each run of a sweep do."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from processors.core import Event
from replay.backtest.data import TapeStats, data_paths, data_topics, market_events, topic_events
from replay.backtest.engine import BacktestConfig, run_backtest
from replay.backtest.report import write_report
from replay.backtest.results import BacktestResults, build_results, write_results
from settings import Settings, load_settings


def run_to_directory(
    config: BacktestConfig,
    data: str,
    out: Path | None,
    on_progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> BacktestResults:
    """Run ``config`` on ``data`` (``sample``, a file, a directory, or market data topics read from Kafka with
    ``settings``, default the environment's); with ``out``, write the tables, the summary and ``report.html``
    there."""
    stats = TapeStats()
    topics = data_topics(data)
    events: Iterable[Event]
    if topics is not None:
        events = topic_events(settings or load_settings(), topics)
    else:
        events = market_events(data_paths(data), stats)
    run = run_backtest(config, events, on_progress)
    if run.market_events == 0:
        raise ValueError(f"no market data in {data} between the given times")
    results = build_results(run)
    results.summary["malformed_rows"] = stats.malformed
    if out is not None:
        write_results(results, out)
        write_report(results, out / "report.html")
    return results
