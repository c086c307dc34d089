"""A parameter sweep: one backtest per point of a grid of strategy parameters, run over processes.

The grid file (TOML):

    strategy = "market_maker"
    data = "sample"                      # optional, default the shipped sample
    [settings]                           # optional: a backtest config file's settings, for every run
    latency = { order_us = 1000 }
    [grid]                               # each key a list of values; every combination is one run
    half_spread = ["0.5", "1.0"]
    size = ["0.01", "0.02"]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from replay.backtest.config import backtest_config, read_config_file
from replay.backtest.data import SAMPLE
from replay.backtest.session import run_to_directory

SWEEP_KEYS = {"strategy", "data", "settings", "grid"}
# The columns of the sweep's table besides the parameters, in order.
SWEEP_METRICS = ("total_return", "sharpe", "sortino", "max_drawdown", "fills", "turnover", "fees", "hit_rate")


@dataclass(frozen=True)
class Sweep:
    strategy: str
    data: str
    settings: Mapping[str, Any]
    points: tuple[dict[str, Any], ...]


def read_grid(path: Path) -> Sweep:
    grid_file = read_config_file(path)
    unknown = sorted(set(grid_file) - SWEEP_KEYS)
    if unknown:
        raise ValueError(f"unknown grid key(s) {', '.join(unknown)}; known: {', '.join(sorted(SWEEP_KEYS))}")
    if "strategy" not in grid_file or not grid_file.get("grid"):
        raise ValueError("a grid file needs `strategy` and a [grid] table of parameter lists")
    grid = grid_file["grid"]
    if not all(isinstance(values, list) and values for values in grid.values()):
        raise ValueError("every [grid] entry must be a non-empty list of values")
    names = sorted(grid)
    points = tuple(dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names)))
    return Sweep(str(grid_file["strategy"]), str(grid_file.get("data", SAMPLE)), grid_file.get("settings", {}), points)


def run_point(strategy: str, data: str, settings: Mapping[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """One run of the sweep (in a worker process): its parameters and metrics."""
    results = run_to_directory(backtest_config(strategy, settings, params=params), data, None)
    return {**params, **{name: results.summary[name] for name in SWEEP_METRICS}}


def run_sweep(sweep: Sweep, processes: int, on_done: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Every point of the grid, in grid order whatever order the processes finish in."""
    backtest_config(sweep.strategy, sweep.settings)  # a bad setting fails here, not in every worker
    rows: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = {
            pool.submit(run_point, sweep.strategy, sweep.data, sweep.settings, point): index
            for index, point in enumerate(sweep.points)
        }
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            if on_done is not None:
                on_done(len(rows))
    return pd.DataFrame([rows[i] for i in range(len(sweep.points))])
