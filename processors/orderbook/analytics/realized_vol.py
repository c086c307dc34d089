"""Realized volatility of the mid over a window of intervals (``OrderBookConfig.vol_window`` returns).

    r_i = ln(mid_i / mid_{i-1})        one log return per analytics interval
    RV  = sqrt(sum_i r_i^2)            over the returns in the window

Not annualised: it is the volatility over the window's span (scale by sqrt(periods per year / window) to
annualise). A return needs the mid at both ends of its interval; intervals where the book was stale or a side
was empty give no return. Fewer than ``min_returns`` returns give None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np


def log_returns(mids: Sequence[float | None]) -> list[float]:
    """Log returns between consecutive samples where both are known."""
    returns = []
    for before, after in pairwise(mids):
        if before is not None and after is not None and before > 0 and after > 0:
            returns.append(float(np.log(after / before)))
    return returns


def realized_volatility(mids: Sequence[float | None], min_returns: int = 2) -> float | None:
    returns = np.asarray(log_returns(mids), dtype=float)
    if returns.size < min_returns:
        return None
    return float(np.sqrt(np.dot(returns, returns)))


def daily_volatility(window_volatility: float, window_us: int, day_us: int) -> float:
    """The window's realized volatility scaled to a day: sigma_day = sigma_window * sqrt(day / window span)
    (variance grows with time for independent returns)."""
    return window_volatility * math.sqrt(day_us / window_us)
