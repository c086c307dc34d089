"""The router: works algorithmic parent orders into child orders (docs/EXECUTION.md)."""

from __future__ import annotations

from processors.router.core import RouterCore

__all__ = ["RouterCore"]
