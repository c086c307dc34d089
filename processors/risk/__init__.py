"""Pre-trade risk: limits (``limits``), the checks (``checks``) and the pure core (``core.RiskCore``)."""

from __future__ import annotations

from processors.risk.core import RiskCore
from processors.risk.limits import DEFAULT_CONFIG, DEFAULT_LIMITS, AccountLimits, RiskConfig

__all__ = ["DEFAULT_CONFIG", "DEFAULT_LIMITS", "AccountLimits", "RiskConfig", "RiskCore"]
