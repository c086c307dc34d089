"""The venue-neutral market data messages every source (Binance, files, the synthetic sample) produces.

Prices and quantities are fixed-point ints (schemas.scales, 8 decimals); times are microseconds since the
Unix epoch (UTC). A level is ``(price, quantity)``; in a ``DepthDiff`` quantity 0 removes the level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = tuple[int, int]  # (price, quantity), fixed-point
Aggressor = Literal["BUY", "SELL"]


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """An incremental book change covering venue update ids ``first_id..last_id``."""

    symbol: str
    first_id: int  # Binance U
    last_id: int  # Binance u
    previous_last_id: int | None  # Binance futures pu; None on spot
    time_us: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full book as of venue update id ``last_update_id``."""

    symbol: str
    last_update_id: int
    time_us: int
    bids: tuple[Level, ...]  # best (highest) first
    asks: tuple[Level, ...]  # best (lowest) first


@dataclass(frozen=True, slots=True)
class TradePrint:
    """A public trade."""

    symbol: str
    trade_id: str
    price: int
    quantity: int
    aggressor: Aggressor | None  # the taker's side; None when the venue does not say
    time_us: int


MarketMessage = DepthDiff | BookSnapshot | TradePrint
