"""Portfolio risk and target weights (processors/analytics/portfolio.py): hand-computed values, scipy as the
reference solver, and the invariants of each method under hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from processors.analytics.portfolio import (
    AnalyticsError,
    Rebalance,
    bar_closes,
    beta,
    covariance,
    historical_var_es,
    long_only_weights,
    mean_variance_weights,
    min_variance_weights,
    parametric_var_es,
    project_to_simplex,
    rebalancing_orders,
    risk_contributions,
    risk_parity_weights,
    risk_report,
    simple_returns,
    target_weights,
)
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE

P, Q, C = PRICE_SCALE, QUANTITY_SCALE, CASH_SCALE
S = 1_000_000  # a second in µs


def test_bars_close_at_the_last_trade_before_their_end_carry_forward_and_start_once_every_symbol_traded() -> None:
    trades = {
        "A": [(0, 100 * P), (15 * S, 110 * P), (12 * S, 105 * P)],  # out of order on purpose
        "B": [(25 * S, 50 * P)],
    }
    closes = bar_closes(trades, start_us=0, end_us=40 * S, bar_us=10 * S)
    # Bars end at 10, 20, 30, 40 s; B has no price before 25 s, so the 10 s and 20 s bars are dropped.
    assert list(closes.index) == [30 * S, 40 * S]
    assert closes["A"].tolist() == [110.0, 110.0]
    assert closes["B"].tolist() == [50.0, 50.0]
    returns = simple_returns(pd.DataFrame({"A": [100.0, 110.0, 99.0]}))
    assert returns["A"].tolist() == pytest.approx([0.1, -0.1])


def test_a_window_shorter_than_a_bar_or_a_symbol_without_trades_is_refused() -> None:
    with pytest.raises(AnalyticsError, match="at least one bar"):
        bar_closes({"A": [(0, P)]}, start_us=0, end_us=5, bar_us=10)
    with pytest.raises(AnalyticsError, match="no recorded trade of B"):
        bar_closes({"A": [(0, P)], "B": []}, start_us=0, end_us=10, bar_us=10)


def test_historical_var_is_the_interpolated_loss_quantile_and_es_the_mean_beyond_it() -> None:
    returns = [-0.05, -0.03, -0.01, 0.0, 0.01, 0.02, 0.02, 0.03, 0.04, 0.05]
    # Losses sorted: -0.05 -0.04 -0.03 -0.02 -0.02 -0.01 0 0.01 0.03 0.05; the 0.9 quantile sits at rank
    # 0.9 x 9 = 8.1: 0.03 + 0.1 x (0.05 - 0.03) = 0.032. Only the 0.05 loss is at or beyond it.
    var, es = historical_var_es(returns, 0.9)
    assert var == pytest.approx(0.032)
    assert es == pytest.approx(0.05)


def test_parametric_var_and_es_are_the_normal_quantile_and_tail_mean() -> None:
    var, es = parametric_var_es(0.0, 1.0, 0.95)
    assert var == pytest.approx(1.6448536, abs=1e-7)
    assert es == pytest.approx(2.0627128, abs=1e-7)
    mean, std, confidence = 0.001, 0.02, 0.99
    var, es = parametric_var_es(mean, std, confidence)
    assert var == pytest.approx(-stats.norm.ppf(1 - confidence, loc=mean, scale=std))
    tail = stats.norm.expect(lambda r: -r, loc=mean, scale=std, ub=stats.norm.ppf(1 - confidence, mean, std))
    assert es == pytest.approx(tail / (1 - confidence))
    with pytest.raises(AnalyticsError, match="confidence"):
        parametric_var_es(0.0, 1.0, 1.0)


def test_beta_is_the_covariance_over_the_benchmark_variance() -> None:
    benchmark = pd.Series([0.01, -0.02, 0.03, 0.0])
    assert beta(2 * benchmark + 0.001, benchmark) == pytest.approx(2.0)
    assert beta(benchmark, pd.Series([0.01] * 4)) is None  # a benchmark that never moved


def test_the_risk_report_of_a_hand_computed_two_symbol_book() -> None:
    returns = pd.DataFrame({"A": [0.01, -0.02, 0.03, -0.01], "B": [0.02, 0.0, -0.02, 0.01]})
    # Long 300 of A, short 100 of B: gross 400, weights 0.75 and -0.25.
    report = risk_report(returns, {"A": 300.0, "B": -100.0}, confidence=0.75, bar_seconds=60.0)
    portfolio = [0.75 * a - 0.25 * b for a, b in zip(returns["A"], returns["B"], strict=True)]
    assert portfolio == pytest.approx([0.0025, -0.015, 0.0275, -0.01])
    mean = sum(portfolio) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in portfolio) / 3)
    assert report.weights == pytest.approx({"A": 0.75, "B": -0.25})
    assert (report.gross_exposure, report.net_exposure) == (400.0, 200.0)
    assert report.portfolio_volatility == pytest.approx(std)
    per_year = math.sqrt(365 * 24 * 60)
    assert report.portfolio_annualized_volatility == pytest.approx(std * per_year)
    # Losses sorted: -0.0275 -0.0025 0.01 0.015; the 0.75 quantile at rank 2.25: 0.01 + 0.25 x 0.005.
    assert report.historical_var == pytest.approx(0.01125)
    assert report.historical_es == pytest.approx(0.015)
    assert report.parametric_var == pytest.approx(-mean + std * stats.norm.ppf(0.75))
    document = report.as_json()
    assert document["var"]["historical"]["var_cash"] == pytest.approx(0.01125 * 400)
    assert document["correlation"]["A"]["B"] == pytest.approx(np.corrcoef(returns["A"], returns["B"])[0, 1])
    assert document["beta"] == {"A": None, "B": None}  # no benchmark asked for


def test_the_risk_report_measures_beta_against_the_benchmark() -> None:
    returns = pd.DataFrame({"A": [0.01, -0.02, 0.03], "B": [0.02, 0.01, -0.01]})
    benchmark = pd.Series([0.005, -0.01, 0.015], index=returns.index)
    report = risk_report(
        returns, {"A": 1.0, "B": 1.0}, confidence=0.95, bar_seconds=60.0, benchmark="A", benchmark_returns=benchmark
    )
    assert report.beta["A"] == pytest.approx(2.0)
    assert report.portfolio_beta == pytest.approx(beta((returns["A"] + returns["B"]) / 2, benchmark))


def test_minimum_variance_of_uncorrelated_assets_weights_by_inverse_variance() -> None:
    weights = min_variance_weights(np.diag([1.0, 4.0]))
    assert weights.tolist() == pytest.approx([0.8, 0.2])


def test_risk_parity_of_uncorrelated_assets_weights_by_inverse_volatility() -> None:
    weights = risk_parity_weights(np.diag([1.0, 4.0]))
    assert weights.tolist() == pytest.approx([2 / 3, 1 / 3])


def _scipy_optimum(objective: object, n: int) -> np.ndarray:
    found = optimize.minimize(
        objective,
        np.full(n, 1 / n),
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert found.success, found.message
    solution: np.ndarray = found.x
    return solution


COV = np.array([[0.04, 0.006, -0.004], [0.006, 0.09, 0.012], [-0.004, 0.012, 0.0225]])
MEAN = np.array([0.05, 0.08, 0.03])


def test_minimum_variance_agrees_with_scipy() -> None:
    reference = _scipy_optimum(lambda w: w @ COV @ w, 3)
    assert min_variance_weights(COV).tolist() == pytest.approx(reference.tolist(), abs=1e-6)


def test_mean_variance_agrees_with_scipy_and_ignores_a_common_time_scale() -> None:
    reference = _scipy_optimum(lambda w: -(w @ MEAN - 2.5 * w @ COV @ w), 3)
    weights = mean_variance_weights(MEAN, COV, 5.0)
    assert weights.tolist() == pytest.approx(reference.tolist(), abs=1e-6)
    assert mean_variance_weights(MEAN / 250, COV / 250, 5.0).tolist() == pytest.approx(weights.tolist())


def test_a_singular_covariance_and_too_few_observations_are_refused_with_what_to_do() -> None:
    with pytest.raises(AnalyticsError, match="singular"):
        min_variance_weights(np.array([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(AnalyticsError, match="at least 2"):
        covariance(pd.DataFrame({"A": [0.01]}))
    with pytest.raises(AnalyticsError, match="unknown method"):
        target_weights("max_sharpe", pd.DataFrame({"A": [0.01, 0.02], "B": [0.0, 0.01]}))


@st.composite
def covariances(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(2, 6))
    entries = draw(st.lists(st.floats(-1, 1), min_size=n * n, max_size=n * n))
    factor = np.array(entries).reshape(n, n)
    matrix: np.ndarray = factor @ factor.T / 10 + np.eye(n) * draw(st.floats(0.001, 0.1))
    return matrix


@settings(max_examples=200, deadline=None)
@given(covariances(), st.data())
def test_minimum_variance_sums_to_one_and_no_fully_invested_portfolio_has_less_variance(
    cov: np.ndarray, data: st.DataObject
) -> None:
    weights = min_variance_weights(cov)
    assert weights.sum() == pytest.approx(1.0)
    raw = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=len(cov), max_size=len(cov))))
    if abs(raw.sum()) < 1e-3:
        return
    other = raw / raw.sum()
    assert weights @ cov @ weights <= other @ cov @ other + 1e-12


@settings(max_examples=200, deadline=None)
@given(covariances())
def test_risk_parity_weights_are_positive_sum_to_one_and_contribute_equal_risk(cov: np.ndarray) -> None:
    weights = risk_parity_weights(cov)
    assert (weights > 0).all()
    assert weights.sum() == pytest.approx(1.0)
    assert risk_contributions(weights, cov).tolist() == pytest.approx([1 / len(cov)] * len(cov), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(covariances(), st.floats(0.1, 50))
def test_mean_variance_weights_sum_to_one(cov: np.ndarray, risk_aversion: float) -> None:
    mean = np.linspace(-0.01, 0.02, len(cov))
    assert mean_variance_weights(mean, cov, risk_aversion).sum() == pytest.approx(1.0)


def test_rebalancing_sizes_each_target_from_the_capital_and_orders_the_difference() -> None:
    current = {"BTC": 1 * Q, "ETH": 3 * Q, "SOL": 2 * Q}
    prices = {"BTC": 100 * P, "ETH": 50 * P, "SOL": 10 * P}
    targets = {"BTC": 0.5, "ETH": 0.2, "XRP": 0.3}
    orders = rebalancing_orders(current, prices | {"XRP": 3 * P}, targets, capital=200 * C, lot=Q // 100)
    # BTC: 0.5 x 200 / 100 = 1 (held: no order). ETH: 0.2 x 200 / 50 = 0.8 (sell 2.2). SOL: not a target: sell 2.
    # XRP: 0.3 x 200 / 3 = 20 exactly.
    assert orders == [
        Rebalance("ETH", "SELL", 220 * Q // 100, 50 * P, 3 * Q, 80 * Q // 100, 0.2),
        Rebalance("SOL", "SELL", 2 * Q, 10 * P, 2 * Q, 0, 0.0),
        Rebalance("XRP", "BUY", 20 * Q, 3 * P, 0, 20 * Q, 0.3),
    ]
    assert orders[0].as_json()["quantity"] == "2.2"


def test_rebalancing_rounds_toward_zero_to_the_lot_and_sells_into_a_short() -> None:
    # 1/3 x 100 / 7 = 4.7619… → 4.76 at a 0.01 lot; a negative weight is a short target.
    orders = rebalancing_orders({}, {"A": 7 * P, "B": 10 * P}, {"A": 1 / 3, "B": -0.5}, capital=100 * C, lot=Q // 100)
    assert [(o.symbol, o.side, o.quantity) for o in orders] == [("A", "BUY", 476 * Q // 100), ("B", "SELL", 5 * Q)]
    with pytest.raises(AnalyticsError, match="capital"):
        rebalancing_orders({}, {"A": P}, {"A": 1.0}, capital=0)
    with pytest.raises(AnalyticsError, match="no price of A"):
        rebalancing_orders({}, {}, {"A": 1.0}, capital=C)


def test_the_simplex_projection_of_hand_picked_points() -> None:
    assert project_to_simplex(np.array([0.6, 0.6])).tolist() == pytest.approx([0.5, 0.5])
    assert project_to_simplex(np.array([2.0, 0.0])).tolist() == pytest.approx([1.0, 0.0])
    assert project_to_simplex(np.array([0.2, 0.3, 0.5])).tolist() == pytest.approx([0.2, 0.3, 0.5])
    assert project_to_simplex(np.array([1.0, 0.5, -3.0])).tolist() == pytest.approx([0.75, 0.25, 0.0])


def _scipy_long_only(objective: object, n: int) -> np.ndarray:
    found = optimize.minimize(
        objective,
        np.full(n, 1 / n),
        bounds=[(0, None)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert found.success, found.message
    solution: np.ndarray = found.x
    return solution


def test_long_only_weights_agree_with_scipy_and_drop_what_the_unconstrained_would_short() -> None:
    # Asset 2 is volatile and correlated with asset 1: unconstrained minimum variance shorts it.
    cov = np.array([[0.04, 0.05, 0.0], [0.05, 0.09, 0.0], [0.0, 0.0, 0.0225]])
    assert min_variance_weights(cov)[1] < 0
    weights = long_only_weights(np.zeros(3), cov, 1.0)
    assert weights.tolist() == pytest.approx(_scipy_long_only(lambda w: w @ cov @ w, 3).tolist(), abs=1e-6)
    assert weights[1] == 0.0 and weights.sum() == pytest.approx(1.0)
    mean = np.array([0.05, 0.3, 0.03])
    reference = _scipy_long_only(lambda w: -(w @ mean - 2.5 * w @ cov @ w), 3)
    assert long_only_weights(mean, cov, 5.0).tolist() == pytest.approx(reference.tolist(), abs=1e-6)
    returns = pd.DataFrame(
        {"A": [0.01, -0.02, 0.03, 0.0], "B": [0.02, -0.03, 0.05, 0.01], "C": [0.0, 0.01, -0.01, 0.0]}
    )
    long_only = target_weights("min_variance", returns, long_only=True)
    assert min(long_only.values()) >= 0 and sum(long_only.values()) == pytest.approx(1.0)


@settings(max_examples=150, deadline=None)
@given(covariances(), st.data())
def test_long_only_minimum_variance_is_feasible_and_beats_every_long_only_portfolio(
    cov: np.ndarray, data: st.DataObject
) -> None:
    weights = long_only_weights(np.zeros(len(cov)), cov, 1.0)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    unconstrained = min_variance_weights(cov)
    assert unconstrained @ cov @ unconstrained <= weights @ cov @ weights + 1e-12
    raw = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(cov), max_size=len(cov))))
    if raw.sum() < 1e-3:
        return
    other = raw / raw.sum()
    assert weights @ cov @ weights <= other @ cov @ other + 1e-10
