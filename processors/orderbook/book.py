"""An aggregated (L2) order book for one symbol: price -> quantity per side, fixed-point ints only.

Structure, chosen for the update rate of a diff-depth feed: per side a dict ``key -> quantity`` and a sorted
list of the keys. Bids are keyed by price, asks by the negated price, so both lists are ascending and the
best level of either side is the *last* element: top of book is O(1), and the levels that change most (near
the top) are inserted or removed at the end of the list, where ``bisect.insort``/``list.pop`` move few
elements. A level update is one dict operation plus, when a level appears or disappears, one bisect.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from typing import Any

Level = tuple[int, int]  # (price, quantity), fixed point


class Side:
    """One side of the book. ``sign`` is +1 for bids (key = price) and -1 for asks (key = -price)."""

    __slots__ = ("keys", "quantities", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.quantities: dict[int, int] = {}  # key -> quantity (> 0)
        self.keys: list[int] = []  # ascending; best level last

    def set(self, price: int, quantity: int) -> None:
        """Set a level's total quantity; 0 removes it (removing an absent level is a no-op, as on Binance)."""
        key = price * self.sign
        quantities = self.quantities
        if quantity:
            if key not in quantities:
                insort(self.keys, key)
            quantities[key] = quantity
        elif key in quantities:
            del quantities[key]
            keys = self.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]

    def clear(self) -> None:
        self.quantities.clear()
        self.keys.clear()

    def load(self, levels: Iterable[Level]) -> None:
        """Replace the side with these levels (quantity 0 entries are skipped)."""
        sign = self.sign
        self.quantities = {price * sign: quantity for price, quantity in levels if quantity}
        self.keys = sorted(self.quantities)

    def best(self) -> Level | None:
        if not self.keys:
            return None
        key = self.keys[-1]
        return key * self.sign, self.quantities[key]

    def best_price(self) -> int | None:
        return self.keys[-1] * self.sign if self.keys else None

    def top(self, depth: int) -> list[Level]:
        """The best ``depth`` levels, best first."""
        sign, quantities = self.sign, self.quantities
        return [(key * sign, quantities[key]) for key in self.keys[: -depth - 1 : -1]]

    def __len__(self) -> int:
        return len(self.keys)


class L2Book:
    """Bids and asks of one symbol, and the venue update id the book is consistent with."""

    __slots__ = ("asks", "bids", "last_update_id")

    def __init__(self) -> None:
        self.bids = Side(1)
        self.asks = Side(-1)
        self.last_update_id: int | None = None

    def load_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], last_update_id: int) -> None:
        self.bids.load(bids)
        self.asks.load(asks)
        self.last_update_id = last_update_id

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.last_update_id = None

    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask: a state no real book can be in."""
        bid, ask = self.bids.best_price(), self.asks.best_price()
        return bid is not None and ask is not None and bid >= ask

    def to_record(self) -> dict[str, Any]:
        """JSON-able state: levels best first, as [price, quantity] pairs."""
        return {
            "bids": [list(level) for level in self.bids.top(len(self.bids))],
            "asks": [list(level) for level in self.asks.top(len(self.asks))],
            "last_update_id": self.last_update_id,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> L2Book:
        book = cls()
        book.bids.load((price, quantity) for price, quantity in record["bids"])
        book.asks.load((price, quantity) for price, quantity in record["asks"])
        book.last_update_id = record["last_update_id"]
        return book
