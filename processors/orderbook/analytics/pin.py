"""PIN: the probability of informed trading of Easley, Kiefer, O'Hara and Paperman (1996), by maximum
likelihood on buy and sell counts per period (``OrderBookConfig.pin_period_us``, last ``pin_periods``).

Model: each period an information event occurs with probability alpha; it is bad news with probability
delta. Uninformed buys and sells arrive as Poisson(eps_b) and Poisson(eps_s); informed traders add
Poisson(mu) buys on good news and sells on bad news. For a period with B buys and S sells:

    L = (1 - alpha)         P(B; eps_b)      P(S; eps_s)
      + alpha (1 - delta)   P(B; eps_b + mu) P(S; eps_s)
      + alpha delta         P(B; eps_b)      P(S; eps_s + mu),          P(k; l) = e^-l l^k / k!

    PIN = alpha mu / (alpha mu + eps_b + eps_s)

Numerics: counts of hundreds overflow e^-l l^k, so each branch is evaluated as a logarithm (``lgamma`` for
ln k!) and the three are combined with log-sum-exp: the largest log term is factored out before
exponentiating, which is the factorization of Lin and Ke (2011). The parameters are optimised unbounded
through alpha = sigmoid(a), delta = sigmoid(d), mu = e^m, eps_b = e^b, eps_s = e^s (so every step is a valid
model), by Nelder-Mead written in numpy, within a wide box (alpha, delta in [6e-6, 1 - 6e-6]; rates in
[1e-6, 1e9]). Starts (deterministic): the grid of Yan and Zhang (2012),
alpha, delta, gamma in {0.1, 0.3, 0.5, 0.7, 0.9}, eps_b = gamma * mean(B), mu = (mean(B) - eps_b) /
(alpha (1 - delta)), eps_s = mean(S) - alpha delta mu (points with eps_s <= 0 dropped); the ``starts`` points of
highest likelihood are refined and the best optimum wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
GRID = (0.1, 0.3, 0.5, 0.7, 0.9)
_TINY = 1e-6  # floor of rates in the starts: a side without trades still has a finite log rate
# Box of the transformed parameters: alpha and delta within (6e-6, 1 - 6e-6), rates within (1e-6, 1e9). Without
# informed trading the likelihood is flat as alpha -> 0 or 1; the box stops the simplex wandering off there.
LOWER = np.array([-12.0, -12.0, math.log(1e-6), math.log(1e-6), math.log(1e-6)])
UPPER = np.array([12.0, 12.0, math.log(1e9), math.log(1e9), math.log(1e9)])


@dataclass(frozen=True)
class PinEstimate:
    alpha: float
    delta: float
    mu: float
    epsilon_b: float
    epsilon_s: float
    log_likelihood: float

    @property
    def pin(self) -> float:
        informed = self.alpha * self.mu
        return informed / (informed + self.epsilon_b + self.epsilon_s)


class PinLikelihood:
    """The log-likelihood of the EKOP model for fixed data, in natural or transformed parameters."""

    def __init__(self, buys: Sequence[int], sells: Sequence[int]) -> None:
        self.buys = np.asarray(buys, dtype=float)
        self.sells = np.asarray(sells, dtype=float)
        # ln B! + ln S! does not depend on the parameters: computed once.
        self.log_factorials = float(sum(math.lgamma(b + 1.0) for b in self.buys)) + float(
            sum(math.lgamma(s + 1.0) for s in self.sells)
        )

    def __call__(self, alpha: float, delta: float, mu: float, epsilon_b: float, epsilon_s: float) -> float:
        if not (0.0 < alpha < 1.0 and 0.0 < delta < 1.0 and mu > 0.0 and epsilon_b > 0.0 and epsilon_s > 0.0):
            raise ValueError("alpha, delta in (0, 1) and mu, epsilon_b, epsilon_s > 0")
        return self._log_likelihood(
            math.log(alpha),
            math.log1p(-alpha),
            math.log(delta),
            math.log1p(-delta),
            mu=mu,
            epsilon_b=epsilon_b,
            epsilon_s=epsilon_s,
        )

    def transformed(self, theta: FloatArray) -> float:
        """The log-likelihood at theta = (a, d, m, b, s) (module docstring), stable for any real theta."""
        a, d, m, b, s = (float(x) for x in theta)
        return self._log_likelihood(
            _log_sigmoid(a),
            _log_sigmoid(-a),
            _log_sigmoid(d),
            _log_sigmoid(-d),
            mu=_exp(m),
            epsilon_b=_exp(b),
            epsilon_s=_exp(s),
        )

    def _log_likelihood(
        self,
        log_alpha: float,
        log_not_alpha: float,
        log_delta: float,
        log_not_delta: float,
        *,
        mu: float,
        epsilon_b: float,
        epsilon_s: float,
    ) -> float:
        buys, sells = self.buys, self.sells
        # Each branch is a constant plus the count terms; the constants are folded first (fewer array passes).
        uninformed_buys = buys * math.log(epsilon_b)
        uninformed_sells = sells * math.log(epsilon_s)
        no_news = (log_not_alpha - epsilon_b - epsilon_s) + (uninformed_buys + uninformed_sells)
        good_news = (log_alpha + log_not_delta - epsilon_b - mu - epsilon_s) + (
            buys * math.log(epsilon_b + mu) + uninformed_sells
        )
        bad_news = (log_alpha + log_delta - epsilon_b - epsilon_s - mu) + (
            uninformed_buys + sells * math.log(epsilon_s + mu)
        )
        largest = np.maximum(np.maximum(no_news, good_news), bad_news)
        per_period = largest + np.log(
            np.exp(no_news - largest) + np.exp(good_news - largest) + np.exp(bad_news - largest)
        )
        return float(per_period.sum()) - self.log_factorials


def _log_sigmoid(x: float) -> float:
    """ln(1 / (1 + e^-x)) without overflow; ln(1 - sigmoid(x)) is _log_sigmoid(-x)."""
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


def _exp(x: float) -> float:
    return math.exp(min(x, 700.0))  # e^700 is already far beyond any trade count


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    exp_x = math.exp(x)  # no overflow for very negative x
    return exp_x / (1.0 + exp_x)


def natural(theta: FloatArray) -> tuple[float, float, float, float, float]:
    a, d, m, b, s = (float(x) for x in theta)
    return _sigmoid(a), _sigmoid(d), _exp(m), _exp(b), _exp(s)


def transform(alpha: float, delta: float, mu: float, epsilon_b: float, epsilon_s: float) -> FloatArray:
    return np.array(
        [
            math.log(alpha / (1 - alpha)),
            math.log(delta / (1 - delta)),
            math.log(mu),
            math.log(epsilon_b),
            math.log(epsilon_s),
        ]
    )


def starting_points(buys: Sequence[int], sells: Sequence[int]) -> list[tuple[float, float, float, float, float]]:
    """The Yan-Zhang grid of (alpha, delta, mu, eps_b, eps_s) (module docstring), in grid order."""
    mean_b = max(float(np.mean(buys)), _TINY)
    mean_s = max(float(np.mean(sells)), _TINY)
    points = []
    for alpha in GRID:
        for delta in GRID:
            for gamma in GRID:
                epsilon_b = gamma * mean_b
                mu = (mean_b - epsilon_b) / (alpha * (1 - delta))
                epsilon_s = mean_s - alpha * delta * mu
                if epsilon_s > 0 and mu > 0:
                    points.append((alpha, delta, mu, epsilon_b, epsilon_s))
    return points


def nelder_mead(
    function: Callable[[FloatArray], float],
    start: FloatArray,
    max_iterations: int,
    *,
    step: float = 0.5,
    f_tolerance: float = 1e-10,
) -> tuple[FloatArray, float]:
    """Minimise ``function`` from ``start`` (standard coefficients: reflect 1, expand 2, contract 1/2, shrink
    1/2). Stops when the simplex's values agree to ``f_tolerance`` relatively (the criterion of Numerical
    Recipes: with no informed trading the likelihood is flat in alpha, delta and mu, so the points themselves
    need not converge). Deterministic: ties keep the simplex order."""
    n = start.size
    simplex = np.vstack([start] + [start + step * np.eye(n)[i] for i in range(n)])
    values = np.array([function(x) for x in simplex])
    for _ in range(max_iterations):
        order = np.argsort(values, kind="stable")
        simplex, values = simplex[order], values[order]
        if 2.0 * abs(values[-1] - values[0]) <= f_tolerance * (abs(values[-1]) + abs(values[0])) + 1e-300:
            break
        centroid = simplex[:-1].mean(axis=0)
        worst = simplex[-1]
        reflected = centroid + (centroid - worst)
        f_reflected = function(reflected)
        if f_reflected < values[0]:
            expanded = centroid + 2.0 * (centroid - worst)
            f_expanded = function(expanded)
            if f_expanded < f_reflected:
                simplex[-1], values[-1] = expanded, f_expanded
            else:
                simplex[-1], values[-1] = reflected, f_reflected
            continue
        if f_reflected < values[-2]:
            simplex[-1], values[-1] = reflected, f_reflected
            continue
        if f_reflected < values[-1]:  # outside contraction
            contracted = centroid + 0.5 * (reflected - centroid)
            f_contracted = function(contracted)
            if f_contracted <= f_reflected:
                simplex[-1], values[-1] = contracted, f_contracted
                continue
        else:  # inside contraction
            contracted = centroid + 0.5 * (worst - centroid)
            f_contracted = function(contracted)
            if f_contracted < values[-1]:
                simplex[-1], values[-1] = contracted, f_contracted
                continue
        best = simplex[0]
        simplex[1:] = best + 0.5 * (simplex[1:] - best)
        values[1:] = [function(x) for x in simplex[1:]]
    index = int(np.argmin(values))
    return simplex[index], float(values[index])


def fit_pin(
    buys: Sequence[int], sells: Sequence[int], starts: int = 3, max_iterations: int = 600
) -> PinEstimate | None:
    """The maximum-likelihood EKOP estimate for per-period buy and sell counts; None without any trade."""
    if len(buys) != len(sells) or not len(buys) or (sum(buys) == 0 and sum(sells) == 0):
        return None
    likelihood = PinLikelihood(buys, sells)
    candidates = starting_points(buys, sells)
    scored = sorted(
        ((likelihood(*point), index) for index, point in enumerate(candidates)),
        key=lambda scored_point: -scored_point[0],
    )  # stable: ties keep grid order
    best: tuple[FloatArray, float] | None = None
    for _, index in scored[:starts]:
        theta, value = nelder_mead(
            lambda x: -likelihood.transformed(np.clip(x, LOWER, UPPER)), transform(*candidates[index]), max_iterations
        )
        theta = np.clip(theta, LOWER, UPPER)
        if best is None or value < best[1]:
            best = theta, value
    if best is None:
        return None
    alpha, delta, mu, epsilon_b, epsilon_s = natural(best[0])
    return PinEstimate(alpha, delta, mu, epsilon_b, epsilon_s, -best[1])
