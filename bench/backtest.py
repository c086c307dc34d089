"""Backtest throughput, in process on one core: market events per second through the order book, the strategy
and the order path's cores (``replay.backtest``), on the shipped sample (an hour of BTCUSDT and ETHUSDT).

    .venv/bin/python -m bench.backtest [--data sample] [--repeat 3] [--json]

The tape is read and decoded into events before timing (its own figure: reading the file is not the
backtest). Each figure is the median of ``--repeat`` runs over every event of the data:
- order book core alone (``OrderBookCore.apply``), with its scheduled analytics off (the backtest's default:
  no strategy callback reads them) and on: the floor any backtest that keeps a book pays;
- the backtest's cores with a strategy that sends nothing (``Idle``): the price of the pipeline;
- ``market_maker`` and ``momentum``: the whole backtest (results kept in memory, no files written).
Times are the process's CPU time (``time.process_time``), not wall time: the machine is shared, and a run
descheduled by other work would otherwise be charged for it. Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from functools import partial

from bench.common import Reporter, machine_info, median_of_runs
from processors.core import Event
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore
from replay.backtest.data import SAMPLE, data_paths, market_events
from replay.backtest.engine import BacktestConfig, run_backtest
from replay.backtest.strategy import Strategy

IDLE = "bench.backtest:Idle"


class Idle(Strategy):
    """Sees every book, trade and fill and sends nothing."""


def _timed(run: Callable[[], object]) -> Callable[[], float]:
    def measure() -> float:
        began = time.process_time()
        run()
        return time.process_time() - began

    return measure


def _orderbook_only(events: list[Event], config: OrderBookConfig) -> None:
    core = OrderBookCore(config)
    for event in events:
        core.apply(event)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=SAMPLE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reporter = Reporter(args.json)
    info = machine_info()
    reporter.machine(info)
    began = time.process_time()
    events = list(market_events(data_paths(args.data)))
    seconds = time.process_time() - began
    count = len(events)
    reporter.add("tape", "read + decode", count / seconds, "events/s", f"{count} events from {args.data}")
    reporter.progress(f"{count} events in memory; timing {args.repeat} runs each")
    for label, analytics in (("analytics off", False), ("analytics on", True)):
        config = BacktestConfig(IDLE, analytics=analytics).orderbook_config()
        seconds, spread = median_of_runs(_timed(partial(_orderbook_only, events, config)), args.repeat)
        reporter.add(f"orderbook core alone, {label}", "throughput", count / seconds, "events/s", spread)
    for strategy in (IDLE, "market_maker", "momentum"):
        outcome: dict[str, int] = {}

        def backtest(strategy: str = strategy, outcome: dict[str, int] = outcome) -> None:
            run = run_backtest(BacktestConfig(strategy), iter(events))
            outcome["commands"] = len(run.commands)
            outcome["fills"] = sum(1 for e in run.order_events if e["last_quantity"])

        seconds, spread = median_of_runs(_timed(backtest), args.repeat)
        detail = f"{spread}; {outcome['commands']} commands, {outcome['fills']} fills"
        reporter.add(f"backtest {strategy.rpartition(':')[2]}", "throughput", count / seconds, "events/s", detail)
    reporter.finish(machine=info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
