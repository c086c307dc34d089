"""Kyle's lambda: price impact per unit of signed order flow, by rolling OLS (``OrderBookConfig.kyle_window``).

One observation per analytics interval i: dP_i = mid_i - mid_{i-1} (price units) and the signed order flow
Q_i = buy volume - sell volume of the interval's trades (quantity units, trades signed as in
``trade_flow``). The regression with intercept

    dP_i = c + lambda * Q_i + e_i

gives  lambda = S_qp / S_qq,  with S_qq = sum (Q_i - mean Q)^2, S_qp = sum (Q_i - mean Q)(dP_i - mean dP),
residual variance s^2 = sum e_i^2 / (n - 2), standard error se = sqrt(s^2 / S_qq) and t = lambda / se.
None when there are fewer than ``min_observations`` observations or the flow does not vary (S_qq = 0); the
t-statistic is None when the fit is exact (se = 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def kyle_lambda(
    price_changes: Sequence[float], signed_flows: Sequence[float], min_observations: int = 3
) -> tuple[float, float | None] | None:
    """(lambda, t-statistic) of the regression of price changes on signed flow, or None (see module)."""
    n = len(price_changes)
    if n < max(min_observations, 3) or n != len(signed_flows):
        return None
    dp = np.asarray(price_changes, dtype=float)
    q = np.asarray(signed_flows, dtype=float)
    q_centred = q - q.mean()
    s_qq = float(np.dot(q_centred, q_centred))
    if s_qq <= 0.0:
        return None
    dp_centred = dp - dp.mean()
    slope = float(np.dot(q_centred, dp_centred)) / s_qq
    residuals = dp_centred - slope * q_centred
    residual_variance = float(np.dot(residuals, residuals)) / (n - 2)
    standard_error = float(np.sqrt(residual_variance / s_qq))
    # Exact fits leave rounding noise in the residuals: treat a relative error below 1e-12 as none.
    if standard_error <= 1e-12 * abs(slope):
        return slope, None
    return slope, slope / standard_error
