"""Trade signs and the trade-flow imbalance.

Sign of a trade: the aggressor side when the venue reports it (BUY: +1, SELL: -1); otherwise the tick rule
(a trade above the previous trade price is a buy, below a sell, at the same price it keeps the previous
trade's sign; with no previous signed trade it is unclassified, 0).

    trade_flow_imbalance = (buy_volume - sell_volume) / (buy_volume + sell_volume),   in [-1, 1]

over the last ``OrderBookConfig.flow_intervals`` intervals; None when no signed volume traded.
"""

from __future__ import annotations


def trade_sign(aggressor: str | None, price: int, previous_price: int | None, previous_sign: int) -> int:
    if aggressor == "BUY":
        return 1
    if aggressor == "SELL":
        return -1
    if previous_price is None:
        return 0
    if price > previous_price:
        return 1
    if price < previous_price:
        return -1
    return previous_sign


def trade_flow_imbalance(buy_volume: int, sell_volume: int) -> float | None:
    total = buy_volume + sell_volume
    if total <= 0:
        return None
    return (buy_volume - sell_volume) / total
