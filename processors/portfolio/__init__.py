"""Positions and PnL: the shared position math (``position``), fill bookkeeping (``ledger``), the core."""

from __future__ import annotations

from processors.portfolio.core import PortfolioCore
from processors.portfolio.ledger import DEFAULT_CONFIG, PortfolioConfig

__all__ = ["DEFAULT_CONFIG", "PortfolioConfig", "PortfolioCore"]
