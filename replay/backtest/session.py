"""One backtest from data to a results directory: what `sq backtest` and each run of a sweep do."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from processors.core import Event
from replay.backtest.data import TapeStats, data_paths, data_topics, market_events, topic_events
from replay.backtest.engine import BacktestConfig, run_backtest
from replay.backtest.report import write_report
from replay.backtest.results import BacktestResults, build_results, write_results
from replay.backtest.via_kafka import run_backtest_via_kafka
from settings import Settings, load_settings


@dataclass(frozen=True)
class ViaKafka:
    apply_timeout_s: float = 30.0  # the longest wait for the workers to apply one event
    on_namespace: Callable[[str], None] = lambda prefix: None


def run_to_directory(
    config: BacktestConfig,
    data: str,
    out: Path | None,
    on_progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
    *,
    via_kafka: ViaKafka | None = None,
) -> BacktestResults:
    """Run ``config`` on ``data`` (``sample``, a file, a directory, or market data topics read from Kafka with
    ``settings``, default the environment's); with ``out``, write the tables, the summary and ``report.html``
    there. ``via_kafka``: through the workers on a fresh namespace of topics (replay/backtest/via_kafka.py)."""
    stats = TapeStats()
    topics = data_topics(data)
    events: Iterable[Event]
    if topics is not None:
        events = topic_events(settings or load_settings(), topics)
    else:
        events = market_events(data_paths(data), stats)
    if via_kafka is None:
        run = run_backtest(config, events, on_progress)
    else:
        run = run_backtest_via_kafka(
            config,
            events,
            settings or load_settings(),
            apply_timeout_s=via_kafka.apply_timeout_s,
            on_progress=on_progress,
            on_namespace=via_kafka.on_namespace,
        )
    if run.market_events == 0:
        raise ValueError(f"no market data in {data} between the given times")
    results = build_results(run)
    results.summary["malformed_rows"] = stats.malformed
    if via_kafka is not None:
        results.summary["via_kafka"] = True
    if out is not None:
        write_results(results, out)
        write_report(results, out / "report.html")
    return results
