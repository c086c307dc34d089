"""The market's book as the venue sees it: an L2 book per symbol from ``md.depth``, and what our orders took.

The levels live in ``processors.orderbook.book.L2Book`` and updates are sequence-checked with
``processors.orderbook.sequencing`` (the order book processor's rules): a snapshot starts a book epoch, the
next updates continue it, and a gap or a crossed book makes it *stale* until the next snapshot. A stale
book offers no liquidity (the venue never fills against prices it cannot trust).

Taken liquidity: an order that walks the book takes part of a level's displayed quantity; that part stays
taken until an update names the level again (its new total replaces the old one) or a snapshot reloads the
book, so two orders cannot take the same displayed quantity. Each taken entry remembers the venue update id
the book was at when it was taken, and each level the update id that last set it: a taken entry restored
from the changelog counts only if no update set its level since (``restore_taken``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from processors.orderbook.book import L2Book, Side
from processors.orderbook.sequencing import Verdict, check_update

BUY = "BUY"
SELL = "SELL"

LevelKey = tuple[str, int]  # (book side "BUY" = bids / "SELL" = asks, price)


class MarketBook:
    """One symbol's market book, its sync state and the liquidity our orders took from it."""

    __slots__ = ("book", "fresh", "set_at", "synced", "taken")

    def __init__(self) -> None:
        self.book = L2Book()
        self.synced = False  # a snapshot is loaded and no gap or cross since
        self.fresh = False  # no update applied since the snapshot (the first one may overlap it)
        self.taken: dict[LevelKey, tuple[int, int]] = {}  # level -> (quantity taken, update id when taken)
        self.set_at: dict[LevelKey, int] = {}  # level -> update id that last set it (levels in the book only)

    # -- md.depth ------------------------------------------------------------------------------------
    def load_snapshot(self, record: Mapping[str, Any]) -> list[LevelKey]:
        """Start a new book epoch; returns every level now in the book."""
        update_id: int = record["last_update_id"]
        book = self.book
        book.load_snapshot(
            ((level["price"], level["quantity"]) for level in record["bids"]),
            ((level["price"], level["quantity"]) for level in record["asks"]),
            update_id,
        )
        self.taken.clear()
        self.set_at = {(BUY, price): update_id for price, _ in book.bids.top(len(book.bids))}
        self.set_at.update({(SELL, price): update_id for price, _ in book.asks.top(len(book.asks))})
        self.synced = not book.crossed()
        self.fresh = True
        return list(self.set_at)

    def apply_update(self, record: Mapping[str, Any]) -> list[LevelKey]:
        """Apply a DepthUpdate if it is the next one; returns the levels it set (none when ignored or a gap)."""
        book = self.book
        if not self.synced or book.last_update_id is None:
            return []
        last: int = record["last_update_id"]
        verdict, _ = check_update(record["first_update_id"], last, record["previous_last_update_id"],
                                  book.last_update_id, fresh=self.fresh)  # fmt: skip
        if verdict is Verdict.IGNORE:
            return []
        if verdict is Verdict.GAP:
            self.synced = False
            return []
        changed: list[LevelKey] = []
        for side_name, side, levels in ((BUY, book.bids, record["bids"]), (SELL, book.asks, record["asks"])):
            for level in levels:
                price: int = level["price"]
                key = (side_name, price)
                side.set(price, level["quantity"])
                self.taken.pop(key, None)
                if level["quantity"]:
                    self.set_at[key] = last
                else:
                    self.set_at.pop(key, None)
                changed.append(key)
        book.last_update_id = last
        self.fresh = False
        if book.crossed():
            self.synced = False
        return changed

    # -- reading -------------------------------------------------------------------------------------
    def _side(self, side: str) -> Side:
        return self.book.bids if side == BUY else self.book.asks

    def displayed(self, side: str, price: int) -> int:
        """The quantity the market shows at ``price`` on ``side`` (BUY: the bids), taken or not."""
        sign = 1 if side == BUY else -1
        return self._side(side).quantities.get(price * sign, 0)

    def available_levels(self, side: str) -> Iterator[tuple[int, int]]:
        """(price, quantity not yet taken) of ``side``'s levels from the best outwards; nothing when stale."""
        if not self.synced:
            return
        side_book = self._side(side)
        sign, quantities, taken = side_book.sign, side_book.quantities, self.taken
        for key in reversed(side_book.keys):  # best last in the list
            price = key * sign
            took = taken.get((side, price))
            left = quantities[key] - (took[0] if took is not None else 0)
            if left > 0:
                yield price, left

    def best_available(self, side: str) -> tuple[int, int] | None:
        return next(self.available_levels(side), None)

    # -- taking --------------------------------------------------------------------------------------
    def take(self, side: str, price: int, quantity: int) -> None:
        """Mark ``quantity`` of the level as taken by one of our orders."""
        key = (side, price)
        took = self.taken.get(key)
        assert self.book.last_update_id is not None  # only a synced book offers liquidity
        self.taken[key] = ((took[0] if took is not None else 0) + quantity, self.book.last_update_id)

    def taken_state(self) -> list[list[Any]]:
        """The taken entries as JSON-able rows [side, price, quantity, update id]."""
        return [[side, price, quantity, update_id] for (side, price), (quantity, update_id) in self.taken.items()]

    def restore_taken(self, rows: list[list[Any]]) -> None:
        """Take back entries from the changelog that still hold: their level was not set again since."""
        for side, price, quantity, update_id in rows:
            set_at = self.set_at.get((side, price))
            if set_at is not None and set_at <= update_id:
                self.taken[(side, price)] = (quantity, update_id)
