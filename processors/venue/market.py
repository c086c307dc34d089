"""The market's book as the venue sees it: an L2 book per symbol from ``md.depth``, and what our orders took.

The levels live in ``processors.orderbook.book.L2Book`` and updates are sequence-checked with the market
venue's documented rule (``processors.orderbook.sequencing``, as the order book processor checks them): a
snapshot starts a book epoch, the next updates continue it, and a gap or a crossed book makes it *stale*
until the next snapshot. A stale book offers no liquidity (the venue never fills against prices it cannot
trust).

Taken liquidity: an order that walks the book takes part of a level's displayed quantity; that part stays
taken until a later update names the level again (its new total replaces the old one) or a later snapshot
reloads the book, so two orders cannot take the same displayed quantity. Each taken entry remembers the venue
update id the book was at when it was taken, so only market data *after* it clears it: the entries survive a
changelog restore whether the market data is replayed before or after it (``restore_taken``).

Position: the latest market data the book has seen (the last trade's event time and the ids of the trades at
that time; the highest depth update id). The venue saves it with each symbol's keyed state, so a restored
core can tell market data its orders have already met (``already_applied``) from new market data: a trade
replayed after a restore must not fill the same order twice. It assumes what the connectors guarantee: a
symbol's trades in event-time order, its depth update ids increasing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from processors.orderbook.book import L2Book, Side
from processors.orderbook.sequencing import Verdict, rule_for

BUY = "BUY"
SELL = "SELL"

LevelKey = tuple[str, int]  # (book side "BUY" = bids / "SELL" = asks, price)


class MarketBook:
    """One symbol's market book, its sync state and the liquidity our orders took from it."""

    __slots__ = ("book", "depth_id", "fresh", "set_at", "synced", "taken", "trade_ids", "trade_time_us")

    def __init__(self) -> None:
        self.book = L2Book()
        self.synced = False  # a snapshot is loaded and no gap or cross since
        self.fresh = False  # no update applied since the snapshot (the first one may overlap it)
        self.taken: dict[LevelKey, tuple[int, int]] = {}  # level -> (quantity taken, update id when taken)
        self.set_at: dict[LevelKey, int] = {}  # level -> update id that last set it (levels in the book only)
        self.trade_time_us: int | None = None  # event time of the latest trade seen
        self.trade_ids: set[str] = set()  # event ids of the trades seen at trade_time_us
        self.depth_id: int | None = None  # highest depth update id seen

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
        self.taken = {key: took for key, took in self.taken.items() if took[1] >= update_id}
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
        verdict, _ = rule_for(record["venue"]).check(
            record["first_update_id"],
            last,
            record["previous_last_update_id"],
            book.last_update_id,
            bridged=not self.fresh,
        )
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
                took = self.taken.get(key)
                if took is not None and took[1] < last:
                    del self.taken[key]
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
        """Take back entries from the changelog, but those whose level a later update has set already."""
        for side, price, quantity, update_id in rows:
            set_at = self.set_at.get((side, price))
            if set_at is None or set_at <= update_id:
                self.taken[(side, price)] = (quantity, update_id)

    # -- snapshots -----------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """What the market data built, JSON-able: the book, its sync state and the position. Taken liquidity is
        keyed state (the venue saves it per symbol with its orders), so it is not part of it."""
        return {
            "book": self.book.to_record(),
            "synced": self.synced,
            "fresh": self.fresh,
            "set_at": [[side, price, update_id] for (side, price), update_id in self.set_at.items()],
            **self.position(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MarketBook:
        market = cls()
        market.book = L2Book.from_record(state["book"])
        market.synced = state["synced"]
        market.fresh = state["fresh"]
        market.set_at = {(side, price): update_id for side, price, update_id in state["set_at"]}
        market.trade_time_us = state["trade_time_us"]
        market.trade_ids = set(state["trade_ids"])
        market.depth_id = state["depth_id"]
        return market

    # -- position --------------------------------------------------------------------------------------
    def note(self, schema_is_trade: bool, record: Mapping[str, Any]) -> None:
        """Advance the position past one market event."""
        if schema_is_trade:
            meta = record["meta"]
            time_us: int = meta["event_time_us"]
            if self.trade_time_us is None or time_us > self.trade_time_us:
                self.trade_time_us, self.trade_ids = time_us, {meta["event_id"]}
            elif time_us == self.trade_time_us:
                self.trade_ids.add(meta["event_id"])
        else:
            update_id: int = record["last_update_id"]
            if self.depth_id is None or update_id > self.depth_id:
                self.depth_id = update_id

    def seen_any(self) -> bool:
        return self.trade_time_us is not None or self.depth_id is not None

    def position(self) -> dict[str, Any]:
        """What market data the book has seen, JSON-able (see the module docstring)."""
        return {"trade_time_us": self.trade_time_us, "trade_ids": sorted(self.trade_ids), "depth_id": self.depth_id}


def already_applied(position: Mapping[str, Any], schema_is_trade: bool, record: Mapping[str, Any]) -> bool:
    """Whether a market event is at or before a saved ``position``: state saved there has met it already."""
    if schema_is_trade:
        seen_time: int | None = position["trade_time_us"]
        time_us: int = record["meta"]["event_time_us"]
        return seen_time is not None and (
            time_us < seen_time or (time_us == seen_time and record["meta"]["event_id"] in position["trade_ids"])
        )
    seen_id: int | None = position["depth_id"]
    return seen_id is not None and record["last_update_id"] <= seen_id
