"""Microprice: the mid weighted by the opposite side's size at the touch.

    microprice = (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty)

A heavy bid (large bid_qty) pulls it towards the ask: the next trade is more likely to lift the offer.
Fixed-point inputs; the result is in price units. Both quantities at the touch are positive in a valid book.
"""

from __future__ import annotations

from schemas.scales import PRICE_SCALE


def microprice(bid_price: int, bid_quantity: int, ask_price: int, ask_quantity: int) -> float:
    weighted = bid_price * ask_quantity + ask_price * bid_quantity  # exact integer arithmetic first
    return weighted / (bid_quantity + ask_quantity) / PRICE_SCALE
