"""PIN: the EKOP likelihood against scipy's Poisson distribution, stability at large counts, recovery of
known parameters from simulated data, and agreement with scipy's optimizer."""

from __future__ import annotations

import numpy as np
import pytest
from _book_builders import MS, T0, P, Q, analytics, run, snapshot, trade
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import poisson

from processors.orderbook.analytics.pin import PinEstimate, PinLikelihood, fit_pin, natural, transform
from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore

TRUE = {"alpha": 0.4, "delta": 0.3, "mu": 60.0, "epsilon_b": 40.0, "epsilon_s": 35.0}


def simulate(
    periods: int, seed: int, alpha: float, delta: float, mu: float, epsilon_b: float, epsilon_s: float
) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    news = rng.random(periods) < alpha
    bad = rng.random(periods) < delta
    buys = rng.poisson(epsilon_b, periods) + np.where(news & ~bad, rng.poisson(mu, periods), 0)
    sells = rng.poisson(epsilon_s, periods) + np.where(news & bad, rng.poisson(mu, periods), 0)
    return buys.tolist(), sells.tolist()


def direct_log_likelihood(
    buys: list[int], sells: list[int], alpha: float, delta: float, mu: float, epsilon_b: float, epsilon_s: float
) -> float:
    """The EKOP likelihood written out with scipy's Poisson pmf (fine for small counts)."""
    b, s = np.asarray(buys), np.asarray(sells)
    per_period = (
        (1 - alpha) * poisson.pmf(b, epsilon_b) * poisson.pmf(s, epsilon_s)
        + alpha * (1 - delta) * poisson.pmf(b, epsilon_b + mu) * poisson.pmf(s, epsilon_s)
        + alpha * delta * poisson.pmf(b, epsilon_b) * poisson.pmf(s, epsilon_s + mu)
    )
    return float(np.sum(np.log(per_period)))


def test_log_likelihood_equals_the_direct_mixture_of_poissons() -> None:
    buys, sells = [3, 0, 7, 12, 5], [4, 9, 1, 2, 5]
    params = (0.35, 0.6, 6.0, 4.0, 3.5)
    assert PinLikelihood(buys, sells)(*params) == pytest.approx(direct_log_likelihood(buys, sells, *params), rel=1e-12)


def test_log_likelihood_stays_finite_where_the_direct_formula_underflows() -> None:
    buys, sells = [9_000, 5_200, 3_900], [4_100, 3_950, 5_300]  # 9000 buys: about e^-1800 in every branch
    params = (0.5, 0.5, 1_200.0, 4_000.0, 4_050.0)
    with np.errstate(divide="ignore"):
        assert direct_log_likelihood(buys, sells, *params) == -np.inf  # the period's probability underflows
    alpha, delta, mu, eb, es = params
    b, s = np.asarray(buys), np.asarray(sells)
    branches = np.vstack(
        [
            np.log(1 - alpha) + poisson.logpmf(b, eb) + poisson.logpmf(s, es),
            np.log(alpha * (1 - delta)) + poisson.logpmf(b, eb + mu) + poisson.logpmf(s, es),
            np.log(alpha * delta) + poisson.logpmf(b, eb) + poisson.logpmf(s, es + mu),
        ]
    )
    expected = float(np.sum(logsumexp(branches, axis=0)))
    assert PinLikelihood(buys, sells)(*params) == pytest.approx(expected, rel=1e-12)


def test_transformed_parameters_map_back_exactly() -> None:
    params = (0.2, 0.7, 15.0, 3.0, 9.0)
    assert natural(transform(*params)) == pytest.approx(params)
    likelihood = PinLikelihood([1, 2], [3, 4])
    assert likelihood.transformed(transform(*params)) == pytest.approx(likelihood(*params))


def test_pin_is_informed_arrivals_over_all_arrivals() -> None:
    estimate = PinEstimate(alpha=0.5, delta=0.5, mu=40.0, epsilon_b=10.0, epsilon_s=10.0, log_likelihood=0.0)
    assert estimate.pin == pytest.approx(20.0 / 40.0)


def test_fit_recovers_known_parameters_from_simulated_counts() -> None:
    """1000 periods: alpha within 0.05, delta within 0.08, rates within 5 %, PIN within 0.02."""
    buys, sells = simulate(1000, 20250101, **TRUE)
    estimate = fit_pin(buys, sells)
    assert estimate is not None
    assert estimate.alpha == pytest.approx(TRUE["alpha"], abs=0.05)
    assert estimate.delta == pytest.approx(TRUE["delta"], abs=0.08)
    assert estimate.mu == pytest.approx(TRUE["mu"], rel=0.05)
    assert estimate.epsilon_b == pytest.approx(TRUE["epsilon_b"], rel=0.05)
    assert estimate.epsilon_s == pytest.approx(TRUE["epsilon_s"], rel=0.05)
    true_pin = TRUE["alpha"] * TRUE["mu"] / (TRUE["alpha"] * TRUE["mu"] + TRUE["epsilon_b"] + TRUE["epsilon_s"])
    assert estimate.pin == pytest.approx(true_pin, abs=0.02)


def test_fit_reaches_the_maximum_scipy_finds() -> None:
    buys, sells = simulate(300, 7, alpha=0.25, delta=0.6, mu=25.0, epsilon_b=12.0, epsilon_s=15.0)
    estimate = fit_pin(buys, sells)
    assert estimate is not None
    likelihood = PinLikelihood(buys, sells)
    best = max(
        -minimize(lambda x: -likelihood.transformed(x), transform(*start), method="L-BFGS-B").fun
        for start in ((0.3, 0.5, 20.0, 10.0, 10.0), (0.5, 0.5, 10.0, 15.0, 15.0), (0.2, 0.8, 30.0, 12.0, 14.0))
    )
    assert estimate.log_likelihood >= best - 1e-4
    assert estimate.log_likelihood == pytest.approx(
        likelihood(estimate.alpha, estimate.delta, estimate.mu, estimate.epsilon_b, estimate.epsilon_s)
    )


def test_fit_is_deterministic() -> None:
    buys, sells = simulate(80, 3, **TRUE)
    assert fit_pin(buys, sells) == fit_pin(buys, sells)


def test_no_fit_without_trades() -> None:
    assert fit_pin([0, 0, 0], [0, 0, 0]) is None
    assert fit_pin([], []) is None


def test_core_refits_pin_when_a_period_closes() -> None:
    config = OrderBookConfig(
        analytics_lateness_us=0,
        interval_us=100 * MS,
        pin_period_us=100 * MS,
        pin_min_periods=3,
        pin_periods=3,
        pin_max_iterations=200,
    )
    core = OrderBookCore(config)
    events = [snapshot(1, [(100 * P, Q)], [(101 * P, Q)], t=T0 + 1 * MS)]
    counts = [(5, 1), (1, 6), (4, 4), (2, 0)]
    for period, (buys, sells) in enumerate(counts):
        start = T0 + period * 100 * MS
        events += [trade(101 * P, Q, "BUY", t=start + 10 * MS + k) for k in range(buys)]
        events += [trade(100 * P, Q, "SELL", t=start + 50 * MS + k) for k in range(sells)]
    events.append(trade(100 * P, Q, "SELL", t=T0 + 450 * MS))
    records = analytics(run(core, events))
    pins = [r["pin"] for r in records]
    assert pins[:2] == [None, None]  # fewer than three closed periods
    expected = [
        fit_pin([b for b, _ in window], [s for _, s in window], max_iterations=200)
        for window in (counts[:3], counts[1:4])
    ]
    assert pins[2:] == [e.pin if e is not None else None for e in expected]
    assert all(0.0 <= p <= 1.0 for p in pins[2:] if p is not None)
