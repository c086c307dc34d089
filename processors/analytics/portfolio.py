"""Portfolio risk and target weights from recorded prices: pure numpy/pandas, no I/O.

Prices come in as each symbol's trades (time, fixed-point price); they are sampled into bars (the last trade
price before each bar's end, carried forward) and turned into simple bar returns. Risk is measured on the
account's exposures (signed quantity x last price, in cash), so long, short and mixed books are all
measurable: the portfolio return of a bar is its PnL over the gross exposure. Definitions are in
docs/PORTFOLIO_ANALYTICS.md; every function here is the formula that page states.

Target weights are fully invested (they sum to 1). Minimum variance and mean-variance are the closed-form
solutions under that one constraint (a weight may be negative: a short), or with ``long_only`` the solutions
with w ≥ 0 too (accelerated projected gradient); risk parity is long-only by construction (equal risk
contributions need positive weights).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from statistics import NormalDist
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from schemas.scales import (
    CASH_SCALE,
    PRICE_DECIMALS,
    PRICE_SCALE,
    QUANTITY_DECIMALS,
    QUANTITY_SCALE,
    format_fixed,
)

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]

SECONDS_PER_YEAR: Final = 365 * 24 * 3600  # crypto markets trade every day of the year
METHODS: Final = ("min_variance", "mean_variance", "risk_parity")
DEFAULT_RISK_AVERSION: Final = 5.0
_STANDARD_NORMAL: Final = NormalDist()


class AnalyticsError(ValueError):
    """The inputs cannot give the figure asked for (too few observations, a singular covariance, …)."""


# -- prices into returns --------------------------------------------------------------------------------------
def bar_closes(
    trades: Mapping[str, Sequence[tuple[int, int]]], *, start_us: int, end_us: int, bar_us: int
) -> pd.DataFrame:
    """Per symbol (columns), the last trade price (a float, in price units) at or before each bar's end.

    Bars end at ``start_us + bar_us``, ``start_us + 2 bar_us``, … up to ``end_us``; ``trades`` are (event
    time µs, fixed-point price) in any order, those before ``start_us`` included (they set the first close). A
    bar without a trade carries the previous close; rows before every symbol has a price are dropped.
    """
    if bar_us <= 0 or end_us - start_us < bar_us:
        raise AnalyticsError(f"the window ({end_us - start_us} µs) must hold at least one bar of {bar_us} µs")
    ends = np.arange(start_us + bar_us, end_us + 1, bar_us, dtype=np.int64)
    closes: dict[str, Vector] = {}
    for symbol, ticks in trades.items():
        if not ticks:
            raise AnalyticsError(f"no recorded trade of {symbol} up to the end of the window")
        ordered = sorted(ticks)
        times = np.fromiter((t for t, _ in ordered), dtype=np.int64, count=len(ordered))
        prices = np.fromiter((p for _, p in ordered), dtype=np.float64, count=len(ordered)) / PRICE_SCALE
        last = np.searchsorted(times, ends, side="right") - 1  # index of the last trade at or before each end
        closes[symbol] = np.where(last >= 0, prices[np.maximum(last, 0)], np.nan)
    frame = pd.DataFrame(closes, index=pd.Index(ends, name="bar_end_us"))
    return frame.dropna()


def simple_returns(closes: pd.DataFrame) -> pd.DataFrame:
    """Bar-over-bar simple returns, p_t / p_{t-1} - 1 (the first bar has none)."""
    returns: pd.DataFrame = closes.pct_change().iloc[1:]
    return returns


# -- risk measures --------------------------------------------------------------------------------------------
def covariance(returns: pd.DataFrame) -> Matrix:
    """The sample covariance matrix (n - 1 in the denominator) of the columns."""
    if len(returns) < 2:
        raise AnalyticsError(f"{len(returns)} return observation(s): at least 2 are needed for a covariance")
    matrix: Matrix = np.atleast_2d(np.cov(returns.to_numpy(dtype=np.float64), rowvar=False, ddof=1))
    return matrix


def beta(asset: pd.Series, benchmark: pd.Series) -> float | None:
    """cov(asset, benchmark) / var(benchmark), sample moments; None when the benchmark does not move."""
    variance = float(benchmark.var(ddof=1))
    if not variance > 0:
        return None
    return float(asset.cov(benchmark, ddof=1)) / variance


def historical_var_es(returns: npt.ArrayLike, confidence: float) -> tuple[float, float]:
    """(VaR, ES) of the losses -r at ``confidence``: VaR is the losses' ``confidence`` quantile (linear
    interpolation between order statistics, numpy's default), ES the mean of the losses at or above it.
    Both are positive for a loss."""
    _check_confidence(confidence)
    losses = -np.asarray(returns, dtype=np.float64)
    if losses.size == 0:
        raise AnalyticsError("no return observations")
    var = float(np.quantile(losses, confidence))
    es = float(losses[losses >= var].mean())
    return var, es


def parametric_var_es(mean: float, std: float, confidence: float) -> tuple[float, float]:
    """(VaR, ES) of a normal return N(mean, std²): VaR = -mean + std·z, ES = -mean + std·φ(z)/(1 - c),
    with z = Φ⁻¹(c)."""
    _check_confidence(confidence)
    z = _STANDARD_NORMAL.inv_cdf(confidence)
    return -mean + std * z, -mean + std * _STANDARD_NORMAL.pdf(z) / (1 - confidence)


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1:
        raise AnalyticsError(f"confidence must be in [0.5, 1), not {confidence}")


def risk_contributions(weights: Vector, cov: Matrix) -> Vector:
    """Each asset's share of the portfolio variance, w_i (Σw)_i / w'Σw (they sum to 1)."""
    variance = float(weights @ cov @ weights)
    if not variance > 0:
        raise AnalyticsError("the portfolio has no variance: risk contributions are undefined")
    contributions: Vector = weights * (cov @ weights) / variance
    return contributions


@dataclass(frozen=True, slots=True)
class RiskReport:
    """An account's risk over the returns' bars. Fractions are of the gross exposure; ``*_cash`` in cash."""

    symbols: list[str]
    exposures: dict[str, float]  # signed quantity x last price (cash units)
    weights: dict[str, float]  # exposure / gross exposure (signed)
    gross_exposure: float
    net_exposure: float
    observations: int
    bar_seconds: float
    volatility: dict[str, float]  # per bar, sample standard deviation of each symbol's returns
    annualized_volatility: dict[str, float]
    portfolio_volatility: float
    portfolio_annualized_volatility: float
    benchmark: str | None
    beta: dict[str, float | None]
    portfolio_beta: float | None
    correlation: dict[str, dict[str, float | None]]
    confidence: float
    historical_var: float
    historical_es: float
    parametric_var: float
    parametric_es: float

    def as_json(self) -> dict[str, Any]:
        gross = self.gross_exposure
        return {
            "symbols": self.symbols,
            "exposures": self.exposures,
            "weights": self.weights,
            "gross_exposure": gross,
            "net_exposure": self.net_exposure,
            "observations": self.observations,
            "bar_seconds": self.bar_seconds,
            "volatility": self.volatility,
            "annualized_volatility": self.annualized_volatility,
            "portfolio_volatility": self.portfolio_volatility,
            "portfolio_annualized_volatility": self.portfolio_annualized_volatility,
            "benchmark": self.benchmark,
            "beta": self.beta,
            "portfolio_beta": self.portfolio_beta,
            "correlation": self.correlation,
            "confidence": self.confidence,
            "var": {
                "historical": {
                    "var": self.historical_var,
                    "es": self.historical_es,
                    "var_cash": self.historical_var * gross,
                    "es_cash": self.historical_es * gross,
                },
                "parametric": {
                    "var": self.parametric_var,
                    "es": self.parametric_es,
                    "var_cash": self.parametric_var * gross,
                    "es_cash": self.parametric_es * gross,
                },
            },
        }


def exposures_of(quantities: Mapping[str, int], prices: Mapping[str, float]) -> dict[str, float]:
    """Signed cash exposure per symbol: fixed-point quantity x price (price units)."""
    return {symbol: quantity / QUANTITY_SCALE * prices[symbol] for symbol, quantity in quantities.items()}


def risk_report(
    returns: pd.DataFrame,
    exposures: Mapping[str, float],
    *,
    confidence: float,
    bar_seconds: float,
    benchmark: str | None = None,
    benchmark_returns: pd.Series | None = None,
) -> RiskReport:
    """The account's risk figures from the symbols' bar returns (columns) and its exposures to them.

    The portfolio return of a bar is Σ exposure_i r_i / Σ |exposure_i|; its VaR and ES are one bar's.
    """
    symbols = list(exposures)
    if not symbols:
        raise AnalyticsError("the account holds no position")
    if missing := [s for s in symbols if s not in returns.columns]:
        raise AnalyticsError(f"no returns of {', '.join(missing)}")
    frame = returns[symbols]
    if len(frame) < 2:
        raise AnalyticsError(f"{len(frame)} return observation(s): at least 2 are needed")
    exposure = np.array([exposures[s] for s in symbols], dtype=np.float64)
    gross = float(np.abs(exposure).sum())
    if not gross > 0:
        raise AnalyticsError("the account's positions are all flat")
    weights = exposure / gross
    portfolio = pd.Series(frame.to_numpy(dtype=np.float64) @ weights, index=frame.index)
    per_year = math.sqrt(SECONDS_PER_YEAR / bar_seconds)
    volatility = {s: float(frame[s].std(ddof=1)) for s in symbols}
    portfolio_volatility = float(portfolio.std(ddof=1))
    historical = historical_var_es(portfolio.to_numpy(), confidence)
    parametric = parametric_var_es(float(portfolio.mean()), portfolio_volatility, confidence)
    betas: dict[str, float | None] = dict.fromkeys(symbols)
    portfolio_beta = None
    if benchmark_returns is not None:
        aligned = benchmark_returns.reindex(frame.index)
        betas = {s: beta(frame[s], aligned) for s in symbols}
        portfolio_beta = beta(portfolio, aligned)
    correlation = frame.corr()
    return RiskReport(
        symbols=symbols,
        exposures=dict(zip(symbols, exposure.tolist(), strict=True)),
        weights=dict(zip(symbols, weights.tolist(), strict=True)),
        gross_exposure=gross,
        net_exposure=float(exposure.sum()),
        observations=len(frame),
        bar_seconds=bar_seconds,
        volatility=volatility,
        annualized_volatility={s: v * per_year for s, v in volatility.items()},
        portfolio_volatility=portfolio_volatility,
        portfolio_annualized_volatility=portfolio_volatility * per_year,
        benchmark=benchmark,
        beta=betas,
        portfolio_beta=portfolio_beta,
        correlation={a: {b: _finite(correlation.at[a, b]) for b in symbols} for a in symbols},
        confidence=confidence,
        historical_var=historical[0],
        historical_es=historical[1],
        parametric_var=parametric[0],
        parametric_es=parametric[1],
    )


def _finite(value: Any) -> float | None:
    """A float for JSON: None where numpy gave NaN (a correlation with a symbol that never moved)."""
    number = float(value)
    return number if math.isfinite(number) else None


# -- target weights -------------------------------------------------------------------------------------------
def _require_positive_definite(cov: Matrix) -> None:
    """AnalyticsError when Σ is singular (a symbol that never moved, or fewer observations than symbols)."""
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise AnalyticsError(
            "the covariance matrix is singular (a symbol whose price never moved, or fewer bars than symbols): "
            "widen the lookback or shorten the bar"
        ) from None


def _inverse(cov: Matrix) -> Matrix:
    """Σ⁻¹ of a positive definite Σ."""
    _require_positive_definite(cov)
    inverse: Matrix = np.linalg.inv(cov).astype(np.float64)
    return inverse


def min_variance_weights(cov: Matrix) -> Vector:
    """argmin w'Σw subject to Σw_i = 1: w = Σ⁻¹1 / 1'Σ⁻¹1."""
    inverse_ones = _inverse(cov) @ np.ones(len(cov))
    weights: Vector = inverse_ones / inverse_ones.sum()
    return weights


def mean_variance_weights(mean: Vector, cov: Matrix, risk_aversion: float) -> Vector:
    """argmax w'μ - (λ/2) w'Σw subject to Σw_i = 1 (λ = ``risk_aversion`` > 0):
    w = Σ⁻¹(μ - g1)/λ with g = (1'Σ⁻¹μ - λ) / 1'Σ⁻¹1. The same weights for any common scaling of μ and Σ
    (per bar or per year)."""
    if not risk_aversion > 0:
        raise AnalyticsError(f"risk aversion must be positive, not {risk_aversion}")
    inverse = _inverse(cov)
    ones = np.ones(len(cov))
    gamma = (ones @ inverse @ mean - risk_aversion) / (ones @ inverse @ ones)
    weights: Vector = inverse @ (mean - gamma * ones) / risk_aversion
    return weights


def risk_parity_weights(cov: Matrix, *, tolerance: float = 1e-12, max_sweeps: int = 10_000) -> Vector:
    """Positive weights summing to 1 whose risk contributions are all equal (1/n each).

    Cyclical coordinate descent on the convex problem min ½y'Σy - Σ ln(y_i)/n, whose minimiser normalised to
    sum 1 is the risk-parity portfolio: each step solves Σ_ii y_i² + c_i y_i - 1/n = 0 for y_i exactly, with
    c_i = Σ_{j≠i} Σ_ij y_j.
    """
    _require_positive_definite(cov)  # the same refusal of a singular Σ as the other methods
    n = len(cov)
    budget = 1.0 / n
    y = 1.0 / np.sqrt(np.diag(cov)) / n
    for _ in range(max_sweeps):
        largest_step = 0.0
        for i in range(n):
            others = float(cov[i] @ y - cov[i, i] * y[i])
            updated = (-others + math.sqrt(others * others + 4 * cov[i, i] * budget)) / (2 * cov[i, i])
            largest_step = max(largest_step, abs(updated - y[i]) / updated)
            y[i] = updated
        if largest_step < tolerance:
            break
    else:
        raise AnalyticsError(f"risk parity did not converge in {max_sweeps} sweeps")
    weights: Vector = y / y.sum()
    return weights


def project_to_simplex(point: Vector) -> Vector:
    """The closest point (Euclidean) with non-negative entries summing to 1 (Duchi et al. 2008: sort, find the
    threshold, clip)."""
    ordered = np.sort(point)[::-1]
    cumulative = np.cumsum(ordered) - 1.0
    ranks = np.arange(1, len(point) + 1)
    last = int(np.nonzero(ordered - cumulative / ranks > 0)[0][-1])
    projected: Vector = np.maximum(point - cumulative[last] / (last + 1), 0.0)
    return projected


def long_only_weights(
    mean: Vector, cov: Matrix, risk_aversion: float, *, tolerance: float = 1e-13, max_steps: int = 100_000
) -> Vector:
    """argmax w'μ - (λ/2) w'Σw subject to Σw_i = 1 and w ≥ 0 (μ = 0: minimum variance), by accelerated
    projected gradient (FISTA) with step 1/(λ·largest eigenvalue of Σ), until a step moves no weight by more
    than ``tolerance``."""
    _require_positive_definite(cov)
    if not risk_aversion > 0:
        raise AnalyticsError(f"risk aversion must be positive, not {risk_aversion}")
    step = 1.0 / (risk_aversion * float(np.linalg.eigvalsh(cov)[-1]))
    weights = np.full(len(cov), 1.0 / len(cov))
    ahead, momentum = weights.copy(), 1.0
    for _ in range(max_steps):
        gradient = risk_aversion * (cov @ ahead) - mean
        updated = project_to_simplex(ahead - step * gradient)
        following = (1 + math.sqrt(1 + 4 * momentum * momentum)) / 2
        ahead = updated + (momentum - 1) / following * (updated - weights)
        moved = float(np.abs(updated - weights).max())
        weights, momentum = updated, following
        if moved < tolerance:
            return weights
    raise AnalyticsError(f"the long-only optimisation did not converge in {max_steps} steps")


def target_weights(
    method: str, returns: pd.DataFrame, *, risk_aversion: float = DEFAULT_RISK_AVERSION, long_only: bool = False
) -> dict[str, float]:
    """The target weights of ``method`` (one of METHODS) over the returns' columns; with ``long_only`` minimum
    variance and mean-variance are constrained to w ≥ 0 (risk parity always is)."""
    cov = covariance(returns)
    mean = returns.mean().to_numpy(dtype=np.float64)
    if method == "min_variance":
        weights = long_only_weights(np.zeros(len(cov)), cov, 1.0) if long_only else min_variance_weights(cov)
    elif method == "mean_variance":
        weights = (
            long_only_weights(mean, cov, risk_aversion)
            if long_only
            else mean_variance_weights(mean, cov, risk_aversion)
        )
    elif method == "risk_parity":
        weights = risk_parity_weights(cov)
    else:
        raise AnalyticsError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    return dict(zip(returns.columns, weights.tolist(), strict=True))


# -- rebalancing ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rebalance:
    """One order that moves a position toward its target (fixed-point quantity and price)."""

    symbol: str
    side: str  # BUY or SELL
    quantity: int
    price: int  # the limit: the symbol's last recorded price
    current_quantity: int
    target_quantity: int
    target_weight: float

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "quantity": format_fixed(self.quantity, QUANTITY_DECIMALS),
            "price": format_fixed(self.price, PRICE_DECIMALS),
            "current_quantity": format_fixed(self.current_quantity, QUANTITY_DECIMALS),
            "target_quantity": format_fixed(self.target_quantity, QUANTITY_DECIMALS),
            "target_weight": self.target_weight,
        }


def rebalancing_orders(
    current: Mapping[str, int],
    prices: Mapping[str, int],
    targets: Mapping[str, float],
    *,
    capital: int,
    lot: int = 1,
) -> list[Rebalance]:
    """The orders that take ``current`` (fixed-point quantities) to ``targets`` (weights of ``capital``, in
    cash fixed point) at ``prices`` (fixed point). A target quantity is w · capital / price, rounded toward
    zero to a multiple of ``lot`` (fixed-point quantity); a symbol already at its target gets no order.
    Symbols in ``current`` but not in ``targets`` are targeted at 0."""
    if capital <= 0:
        raise AnalyticsError("the capital to allocate must be positive (the account's net value, or give one)")
    if lot <= 0:
        raise AnalyticsError(f"the lot must be positive, not {lot}")
    orders = []
    for symbol in sorted(set(current) | set(targets)):
        weight = targets.get(symbol, 0.0)
        price = prices.get(symbol)
        if price is None or price <= 0:
            raise AnalyticsError(f"no price of {symbol} to size its order at")
        # Decimal arithmetic: a float product would misround large fixed-point quantities.
        exact = Decimal(repr(weight)) * capital * QUANTITY_SCALE * PRICE_SCALE / (Decimal(price) * CASH_SCALE)
        target = int((exact / lot).to_integral_value(rounding=ROUND_DOWN)) * lot
        held = current.get(symbol, 0)
        delta = target - held
        if delta:
            side = "BUY" if delta > 0 else "SELL"
            orders.append(Rebalance(symbol, side, abs(delta), price, held, target, weight))
    return orders
