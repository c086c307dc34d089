"""An account's positions and its symbols' recorded prices, and what processors.analytics.portfolio makes of
them: the risk report, and an optimisation's target weights and rebalancing orders.

Positions come from the PostgreSQL projection; prices from md.trades over the lookback window
(``connectors.marketdata.history``). docs/PORTFOLIO_ANALYTICS.md states every definition.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd
import psycopg

from connectors.marketdata.history import symbol_records
from connectors.postgres import read_models
from processors.analytics.portfolio import (
    DEFAULT_RISK_AVERSION,
    METHODS,
    AnalyticsError,
    Rebalance,
    bar_closes,
    exposures_of,
    rebalancing_orders,
    risk_report,
    simple_returns,
    target_weights,
)
from schemas.scales import CASH_DECIMALS, PRICE_SCALE, format_fixed
from settings import Settings
from topics.catalogue import MD_TRADES

SECOND_US: Final = 1_000_000
DEFAULT_BENCHMARK: Final = "BTCUSDT"


@dataclass(frozen=True, slots=True)
class Window:
    """The recorded prices an analysis uses: ``lookback_s`` up to ``end_us``, sampled every ``bar_s``."""

    end_us: int
    lookback_s: int = 3600
    bar_s: int = 60

    def __post_init__(self) -> None:
        if self.bar_s <= 0 or self.lookback_s < 2 * self.bar_s:
            raise AnalyticsError(
                f"the lookback ({self.lookback_s} s) must hold at least two bars of {self.bar_s} s (two returns)"
            )

    @property
    def start_us(self) -> int:
        return self.end_us - self.lookback_s * SECOND_US

    def as_json(self) -> dict[str, Any]:
        return {
            "start_time_us": self.start_us,
            "end_time_us": self.end_us,
            "lookback_s": self.lookback_s,
            "bar_s": self.bar_s,
        }


@dataclass(frozen=True, slots=True)
class AccountMarket:
    """An account's held quantities (fixed point) and its symbols' bar returns and last prices."""

    account: str
    quantities: dict[str, int]
    returns: pd.DataFrame
    last_prices: dict[str, int]  # fixed point: the last trade in the window


def account_market(
    conn: psycopg.Connection[Any],
    settings: Settings,
    account: str,
    window: Window,
    *,
    symbols: Collection[str] = (),
    benchmark: str | None = None,
) -> AccountMarket:
    """The account's non-flat positions, plus ``symbols`` (0 held) and the benchmark's prices when asked for."""
    quantities = {p.symbol: p.quantity for p in read_models.positions(conn, account) if p.quantity}
    quantities.update({symbol: 0 for symbol in symbols if symbol not in quantities})
    if not quantities:
        raise AnalyticsError(f"account {account} holds no position (and no symbol was named)")
    wanted = sorted(set(quantities) | ({benchmark} if benchmark else set()))
    ticks: dict[str, list[tuple[int, int]]] = {}
    for symbol in wanted:
        records = symbol_records(settings, MD_TRADES, symbol, from_us=window.start_us, to_us=window.end_us)
        ticks[symbol] = [(r["meta"]["event_time_us"], r["price"]) for r in records]
    closes = bar_closes(ticks, start_us=window.start_us, end_us=window.end_us, bar_us=window.bar_s * SECOND_US)
    last_prices = {symbol: max(found)[1] for symbol, found in ticks.items() if found}
    return AccountMarket(account, quantities, simple_returns(closes), last_prices)


def risk_document(
    conn: psycopg.Connection[Any],
    settings: Settings,
    account: str,
    window: Window,
    *,
    confidence: float = 0.95,
    benchmark: str | None = DEFAULT_BENCHMARK,
) -> dict[str, Any]:
    """The account's risk report (``RiskReport.as_json``) with its account and window."""
    market = account_market(conn, settings, account, window, benchmark=benchmark)
    prices = {symbol: market.last_prices[symbol] / PRICE_SCALE for symbol in market.quantities}
    held = {symbol: quantity for symbol, quantity in market.quantities.items() if quantity}
    report = risk_report(
        market.returns,
        exposures_of(held, prices),
        confidence=confidence,
        bar_seconds=window.bar_s,
        benchmark=benchmark,
        benchmark_returns=None if benchmark is None else market.returns[benchmark],
    )
    return {"account": account, "window": window.as_json(), **report.as_json()}


@dataclass(frozen=True, slots=True)
class Optimization:
    account: str
    method: str
    window: Window
    capital: int  # cash fixed point
    current_weights: dict[str, float]
    target_weights: dict[str, float]
    orders: list[Rebalance] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "method": self.method,
            "window": self.window.as_json(),
            "capital": format_fixed(self.capital, CASH_DECIMALS),
            "current_weights": self.current_weights,
            "target_weights": self.target_weights,
            "orders": [order.as_json() for order in self.orders],
        }


def optimize(
    conn: psycopg.Connection[Any],
    settings: Settings,
    account: str,
    window: Window,
    *,
    method: str,
    symbols: Collection[str] = (),
    risk_aversion: float = DEFAULT_RISK_AVERSION,
    long_only: bool = False,
    capital: int | None = None,
    lot: int = 1,
) -> Optimization:
    """Target weights by ``method`` over the account's symbols (and ``symbols``; no short with ``long_only``),
    and the orders that reach them from its positions. The capital is the account's net exposure unless given
    (cash fixed point)."""
    if method not in METHODS:
        raise AnalyticsError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    market = account_market(conn, settings, account, window, symbols=symbols)
    universe = sorted(market.quantities)
    returns = market.returns[universe]
    targets = target_weights(method, returns, risk_aversion=risk_aversion, long_only=long_only)
    prices = {symbol: market.last_prices[symbol] / PRICE_SCALE for symbol in universe}
    exposures = exposures_of(market.quantities, prices)
    net = sum(exposures.values())
    gross = sum(abs(e) for e in exposures.values())
    current = {symbol: (exposure / gross if gross else 0.0) for symbol, exposure in exposures.items()}
    if capital is None:
        if net <= 0:
            raise AnalyticsError(f"account {account} has no positive net value to allocate ({net:.8f}): give a capital")
        capital = round(net * 10**CASH_DECIMALS)
    orders = rebalancing_orders(market.quantities, market.last_prices, targets, capital=capital, lot=lot)
    return Optimization(account, method, window, capital, current, targets, orders)
