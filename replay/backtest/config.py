"""A backtest's configuration file (TOML), read into a ``BacktestConfig``.

    account = "BT-001"
    initial_cash = "100000"        # cash units, a decimal string
    sample_interval_ms = 1000      # the equity curve's sampling interval
    analytics = false              # run the order book's scheduled analytics too (no callback reads them)
    [latency]
    market_data_us = 0             # a market event → the strategy sees it
    order_us = 0                   # a command → the venue handles it
    [fees]                         # the venue's fees in basis points of notional (negative: a rebate)
    maker_bps = 2
    taker_bps = 5
    [params]                       # the strategy's parameters
    size = "0.01"

Unknown keys are refused, so a misspelt setting never goes unnoticed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from processors.venue.matching import Fees
from replay.backtest.engine import BacktestConfig, LatencyModel
from schemas.scales import CASH_DECIMALS, to_fixed

TOP_KEYS = {"account", "initial_cash", "sample_interval_ms", "analytics", "latency", "fees", "params"}


def _only(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ValueError(f"unknown {where} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")


def read_config_file(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def backtest_config(
    strategy: str,
    settings: Mapping[str, Any],
    *,
    params: Mapping[str, Any] | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> BacktestConfig:
    """The configuration of a run from a config file's settings; ``params`` override the file's."""
    _only(settings, TOP_KEYS, "top-level")
    latency = settings.get("latency", {})
    _only(latency, {"market_data_us", "order_us"}, "[latency]")
    fees = settings.get("fees")
    if fees is not None:
        _only(fees, {"maker_bps", "taker_bps"}, "[fees]")
    return BacktestConfig(
        strategy=strategy,
        params={**settings.get("params", {}), **(params or {})},
        account=str(settings.get("account", "BT-001")),
        initial_cash=to_fixed(str(settings.get("initial_cash", "100000")), CASH_DECIMALS),
        latency=LatencyModel(int(latency.get("market_data_us", 0)), int(latency.get("order_us", 0))),
        fees=None if fees is None else Fees(int(fees.get("maker_bps", 0)), int(fees.get("taker_bps", 0))),
        start_us=start_us,
        end_us=end_us,
        sample_interval_us=int(settings.get("sample_interval_ms", 1000)) * 1000,
        analytics=bool(settings.get("analytics", False)),
    )
