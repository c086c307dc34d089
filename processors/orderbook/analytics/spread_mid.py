"""Spread and mid of the best bid and ask.

    spread = ask - bid
    mid    = (bid + ask) / 2

Inputs are fixed-point prices; outputs are in price units (divided by the price scale).
"""

from __future__ import annotations

from schemas.scales import PRICE_SCALE


def spread(bid_price: int, ask_price: int) -> float:
    return (ask_price - bid_price) / PRICE_SCALE


def mid(bid_price: int, ask_price: int) -> float:
    return (bid_price + ask_price) / (2 * PRICE_SCALE)
