"""Backtests: recorded market data and a strategy through the order path's cores (docs/BACKTEST.md)."""
