"""The order management system: the order state machine (``transitions``), orders (``orders``), the core."""

from __future__ import annotations

from processors.oms.core import DEFAULT_CONFIG, OmsConfig, OmsCore

__all__ = ["DEFAULT_CONFIG", "OmsConfig", "OmsCore"]
