"""Depth imbalance over the top N levels of each side (N: ``OrderBookConfig.imbalance_levels``).

    imbalance = (bid_depth - ask_depth) / (bid_depth + ask_depth),   in [-1, 1]

where bid_depth (ask_depth) is the total quantity of the best N bid (ask) levels. None when both are empty.
"""

from __future__ import annotations


def depth_imbalance(bid_depth: int, ask_depth: int) -> float | None:
    total = bid_depth + ask_depth
    if total <= 0:
        return None
    return (bid_depth - ask_depth) / total
