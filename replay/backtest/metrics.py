"""Performance metrics of a backtest from its equity curve and fills (numpy/pandas: analytics, not the order path).

Returns are taken per sampling interval of the equity curve and annualised with the number of intervals in a
year (365 days: crypto trades every day). VaR and expected shortfall are historical, of one interval's return,
at ``confidence``, reported as positive losses.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd

YEAR_US: Final = 365 * 24 * 3600 * 1_000_000


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def compute_metrics(
    equity: pd.DataFrame, fills: pd.DataFrame, initial_cash: float, interval_us: int, confidence: float = 0.95
) -> dict[str, Any]:
    """``equity``: columns time_us, equity (cash units); ``fills``: quantity, price, fee, realized_pnl_change."""
    values = equity["equity"].to_numpy(dtype=float)
    returns = np.diff(values) / values[:-1] if len(values) > 1 else np.array([])
    periods = YEAR_US / interval_us
    mean = returns.mean() if returns.size else 0.0
    std = returns.std(ddof=1) if returns.size > 1 else 0.0
    downside = returns[returns < 0]
    downside_dev = math.sqrt(float((downside**2).sum()) / returns.size) if returns.size else 0.0
    peak = np.maximum.accumulate(values) if values.size else values
    drawdown = values / peak - 1 if values.size else values
    tail = np.quantile(returns, 1 - confidence) if returns.size else 0.0
    traded = float((fills["quantity"] * fills["price"]).sum()) if len(fills) else 0.0
    closing = fills["realized_pnl_change"][fills["realized_pnl_change"] != 0] if len(fills) else pd.Series([])
    final = float(values[-1]) if values.size else initial_cash
    return {
        "initial_equity": initial_cash,
        "final_equity": final,
        "pnl": final - initial_cash,
        "total_return": final / initial_cash - 1,
        "sharpe": _finite(mean / std * math.sqrt(periods)) if std > 0 else None,
        "sortino": _finite(mean / downside_dev * math.sqrt(periods)) if downside_dev > 0 else None,
        "max_drawdown": float(-drawdown.min()) if drawdown.size else 0.0,
        "volatility": float(std * math.sqrt(periods)),
        "fills": len(fills),
        "traded_notional": traded,
        "turnover": traded / initial_cash,
        "fees": float(fills["fee"].sum()) if len(fills) else 0.0,
        "hit_rate": float((closing > 0).mean()) if len(closing) else None,
        "closing_fills": len(closing),
        f"var_{round(confidence * 100)}": float(-tail),
        f"es_{round(confidence * 100)}": float(-returns[returns <= tail].mean()) if returns.size else 0.0,
        "intervals": int(returns.size),
    }
