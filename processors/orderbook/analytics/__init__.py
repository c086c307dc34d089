"""Microstructure analytics of the order book processor, one module per measure (formula in its docstring).

Analytics are doubles (schema ``shrivenquant.md.MarketAnalytics``): they inform strategies and never travel
on the order path. ``engine`` keeps the rolling windows per symbol and computes them on the event-time
schedule.
"""
