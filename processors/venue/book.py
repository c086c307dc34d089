"""A price-time priority limit order book for one symbol at one venue, plus its resting stop orders.

Structure: per side, a dict ``price -> Level`` and a ``SortedList`` of the level prices (bids stored negated,
so the best price of either side is element 0: O(1) best price, O(log n) to add or drop a level). A level is
a FIFO ``deque`` of orders. Cancelling marks the order dead and takes its quantity off the level at once
(O(1)); the dead entry is dropped lazily when it reaches the front of the queue or its level empties, or
swept once a level holds more dead entries than live ones.

Priority is a per-book sequence number (``Order.seq``) given when an order joins a queue; the queue of a
level is always in ``seq`` order, which is what lets ``Book.rebuilt`` put orders restored one by one (in any
order) back into the exact queues.
Untriggered stop orders wait in two sorted lists keyed by stop price (buy stops trigger on a trade at or
above their stop, sell stops at or below). GTD and DAY orders sit in an expiry heap as well.

Every change to an order the book holds (it comes to rest, fills, shrinks, leaves) adds its id to
``Book.changed``, so the venue writes to the changelog only the orders that changed (``processors.venue.state``).
A change the matching makes to an order's fields outside these methods (a market queue estimate) goes
through ``Book.note_changed``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Final

from sortedcontainers import SortedList

from processors.venue.market import MarketBook
from schemas.scales import Price, Quantity

BUY = "BUY"
SELL = "SELL"
_SLACK: Final = 16  # dead entries a level's queue may hold beyond twice its live orders


class Order:
    """An order the venue holds (resting, or an untriggered stop), with its running fill state."""

    __slots__ = (
        "account",
        "correlation_id",
        "cum",
        "expire_time_us",
        "leaves",
        "live",
        "order_id",
        "order_type",
        "parent_order_id",
        "post_only",
        "price",
        "quantity",
        "queue_ahead",
        "rested_us",
        "seq",
        "side",
        "stop_price",
        "time_in_force",
        "triggered",
    )

    def __init__(
        self,
        order_id: str,
        account: str,
        side: str,
        order_type: str,
        time_in_force: str,
        *,
        quantity: Quantity,
        price: Price | None,
        stop_price: Price | None = None,
        post_only: bool = False,
        expire_time_us: int | None = None,
        correlation_id: str = "",
        parent_order_id: str | None = None,
        cum: int = 0,
        seq: int = 0,
        triggered: bool = False,
        queue_ahead: int | None = None,
        rested_us: int | None = None,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.quantity = quantity
        self.price = price
        self.stop_price = stop_price
        self.post_only = post_only
        self.expire_time_us = expire_time_us
        self.correlation_id = correlation_id
        self.parent_order_id = parent_order_id
        self.cum = cum
        self.leaves = quantity - cum
        self.seq = seq
        self.triggered = triggered
        # Market quantity estimated ahead of a resting order at its price (market liquidity only; None
        # without): the displayed quantity when it came to rest, less the trades printed at its price since.
        self.queue_ahead = queue_ahead
        self.rested_us = rested_us  # the book's clock when it came to rest (market liquidity only)
        self.live = True

    @property
    def is_stop(self) -> bool:
        """An untriggered STOP or STOP_LIMIT order."""
        return self.stop_price is not None and not self.triggered

    def to_state(self) -> list[Any]:
        return [
            self.order_id,
            self.account,
            self.side,
            self.order_type,
            self.time_in_force,
            self.quantity,
            self.price,
            self.stop_price,
            self.post_only,
            self.expire_time_us,
            self.correlation_id,
            self.parent_order_id,
            self.cum,
            self.seq,
            self.triggered,
            self.queue_ahead,
            self.rested_us,
        ]

    @classmethod
    def from_state(cls, row: list[Any]) -> Order:
        (
            order_id,
            account,
            side,
            order_type,
            time_in_force,
            quantity,
            price,
            stop_price,
            post_only,
            expire_time_us,
            correlation_id,
            parent_order_id,
            cum,
            seq,
            triggered,
        ) = row[:15]
        # rows written before market liquidity have 15 columns
        queue_ahead, rested_us = (row[15], row[16]) if len(row) > 15 else (None, None)
        return cls(
            order_id,
            account,
            side,
            order_type,
            time_in_force,
            quantity=quantity,
            price=price,
            stop_price=stop_price,
            post_only=post_only,
            expire_time_us=expire_time_us,
            correlation_id=correlation_id,
            parent_order_id=parent_order_id,
            cum=cum,
            seq=seq,
            triggered=triggered,
            queue_ahead=queue_ahead,
            rested_us=rested_us,
        )

    def clone(self) -> Order:
        """A fresh copy to re-queue: the old object stays behind, dead, in its level's queue."""
        return Order.from_state(self.to_state())

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id!r}, {self.side} {self.order_type} {self.leaves}/{self.quantity}"
            f" @ {self.price}, stop={self.stop_price}, seq={self.seq})"
        )


class Level:
    """The orders resting at one price, oldest first; ``quantity`` and ``count`` cover live orders only."""

    __slots__ = ("count", "price", "quantity", "queue")

    def __init__(self, price: Price) -> None:
        self.price = price
        self.queue: deque[Order] = deque()
        self.quantity = 0
        self.count = 0

    def front(self) -> Order | None:
        """The oldest live order, dropping dead entries on the way."""
        queue = self.queue
        while queue:
            order = queue[0]
            if order.live:
                return order
            queue.popleft()
        return None

    def orders(self) -> Iterator[Order]:
        return (order for order in self.queue if order.live)


class Book:
    """One symbol's book at one venue."""

    __slots__ = (
        "_ask_prices",
        "_bid_prices",
        "asks",
        "bids",
        "buy_stops",
        "changed",
        "clock_us",
        "expiries",
        "market",
        "next_seq",
        "orders",
        "sell_stops",
    )

    def __init__(self) -> None:
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self._bid_prices: SortedList = SortedList()  # negated prices: element 0 is the best bid
        self._ask_prices: SortedList = SortedList()
        self.buy_stops: SortedList = SortedList()  # (stop_price, seq, order_id)
        self.sell_stops: SortedList = SortedList()  # (-stop_price, seq, order_id)
        self.expiries: list[tuple[int, int, str]] = []  # heap of (expire_time_us, seq, order_id)
        self.orders: dict[str, Order] = {}  # every live order: resting and untriggered stops
        self.changed: set[str] = set()  # ids of orders changed (or gone) since the venue last wrote them
        self.next_seq = 1
        self.clock_us = 0  # the latest event time seen: GTD orders expire against it
        # The symbol's market book when the venue fills against the market (broadcast state, never saved)
        self.market: MarketBook | None = None

    # -- reading -------------------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        prices = self._bid_prices
        return -prices[0] if prices else None

    def best_ask(self) -> int | None:
        prices = self._ask_prices
        return prices[0] if prices else None

    def best_level(self, side: str) -> Level | None:
        """The best level of ``side``'s half of the book (BUY: the bids)."""
        if side == BUY:
            prices = self._bid_prices
            return self.bids[-prices[0]] if prices else None
        prices = self._ask_prices
        return self.asks[prices[0]] if prices else None

    def levels(self, side: str) -> Iterator[Level]:
        """``side``'s levels from the best price outwards."""
        if side == BUY:
            bids = self.bids
            return (bids[-p] for p in self._bid_prices)
        asks = self.asks
        return (asks[p] for p in self._ask_prices)

    def depth(self, side: str) -> list[tuple[int, int, int]]:
        """(price, quantity, order count) per level from the best price outwards."""
        return [(level.price, level.quantity, level.count) for level in self.levels(side)]

    def is_empty(self) -> bool:
        return not self.orders

    def has_stops(self) -> bool:
        return bool(self.buy_stops or self.sell_stops)

    def expiry_due(self, now_us: int) -> bool:
        """Whether some GTD/DAY entry (possibly stale: popping drops those) is due at ``now_us``."""
        expiries = self.expiries
        return bool(expiries) and expiries[0][0] <= now_us

    # -- changing ------------------------------------------------------------------------------------
    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq = seq + 1
        return seq

    def rest(self, order: Order) -> None:
        """Put a limit order (with leaves > 0 and its seq set) at the back of its price level."""
        price = order.price
        assert price is not None
        if order.side == BUY:
            levels, prices, key = self.bids, self._bid_prices, -price
        else:
            levels, prices, key = self.asks, self._ask_prices, price
        level = levels.get(price)
        if level is None:
            level = levels[price] = Level(price)
            prices.add(key)
        level.queue.append(order)
        level.quantity += order.leaves
        level.count += 1
        order.live = True
        self.orders[order.order_id] = order
        self.changed.add(order.order_id)
        if order.expire_time_us is not None:
            heapq.heappush(self.expiries, (order.expire_time_us, order.seq, order.order_id))

    def add_stop(self, order: Order) -> None:
        """Hold an untriggered stop order (its seq set) until a trade prints at or through its stop price."""
        stop = order.stop_price
        assert stop is not None
        if order.side == BUY:
            self.buy_stops.add((stop, order.seq, order.order_id))
        else:
            self.sell_stops.add((-stop, order.seq, order.order_id))
        order.live = True
        self.orders[order.order_id] = order
        self.changed.add(order.order_id)
        if order.expire_time_us is not None:
            heapq.heappush(self.expiries, (order.expire_time_us, order.seq, order.order_id))

    def remove(self, order: Order) -> None:
        """Take a live order out of the book (cancel, fully filled, expired, triggered or re-queued)."""
        order.live = False
        del self.orders[order.order_id]
        self.changed.add(order.order_id)
        if order.is_stop:
            stop = order.stop_price
            assert stop is not None
            if order.side == BUY:
                self.buy_stops.remove((stop, order.seq, order.order_id))
            else:
                self.sell_stops.remove((-stop, order.seq, order.order_id))
            return
        price = order.price
        assert price is not None
        levels = self.bids if order.side == BUY else self.asks
        level = levels[price]
        level.quantity -= order.leaves
        level.count -= 1
        if level.count == 0:
            del levels[price]
            if order.side == BUY:
                self._bid_prices.remove(-price)
            else:
                self._ask_prices.remove(price)
        elif len(level.queue) > (level.count << 1) + _SLACK:
            # Quotes churning behind an order that never fills would leave dead entries forever: sweep them
            # once they outnumber the live ones (amortised O(1) per cancel).
            level.queue = deque([entry for entry in level.queue if entry.live])

    def fill_resting(self, order: Order, quantity: int) -> None:
        """Record a fill of a resting order (keeps its place; removes it once nothing is left)."""
        order.cum += quantity
        if order.leaves == quantity:
            self.remove(order)  # takes the old leaves off the level
            order.leaves = 0
            return
        order.leaves -= quantity
        self.changed.add(order.order_id)
        levels = self.bids if order.side == BUY else self.asks
        levels[order.price].quantity -= quantity  # type: ignore[index]

    def reduce_in_place(self, order: Order, new_quantity: Quantity) -> None:
        """Lower a resting order's quantity keeping its priority (new_quantity > cum)."""
        new_leaves = new_quantity - order.cum
        levels = self.bids if order.side == BUY else self.asks
        levels[order.price].quantity += new_leaves - order.leaves  # type: ignore[index]
        order.quantity = new_quantity
        order.leaves = new_leaves
        self.changed.add(order.order_id)

    def note_changed(self, order: Order) -> None:
        """Mark an order held here as changed by a caller that set its fields directly."""
        self.changed.add(order.order_id)

    def pop_triggered_stop(self, trade_price: int) -> Order | None:
        """The next stop a trade at ``trade_price`` triggers, taken out of the book (None: no more).

        Per side, the stop the price passed first (buy: lowest stop, sell: highest; ties: oldest); between a
        buy and a sell stop both triggered, the older.
        """
        buy_stops, sell_stops = self.buy_stops, self.sell_stops
        candidate: tuple[int, int, str] | None = None
        if buy_stops and buy_stops[0][0] <= trade_price:
            candidate = buy_stops[0]
        if sell_stops and -sell_stops[0][0] >= trade_price and (candidate is None or sell_stops[0][1] < candidate[1]):
            candidate = sell_stops[0]
        if candidate is None:
            return None
        order = self.orders[candidate[2]]
        self.remove(order)
        return order

    def pop_expired(self, now_us: int) -> Order | None:
        """A live GTD/DAY order whose expire time is at or before ``now_us``, taken out of the book."""
        expiries = self.expiries
        while expiries and expiries[0][0] <= now_us:
            expire, seq, order_id = heapq.heappop(expiries)
            order = self.orders.get(order_id)
            if order is not None and order.seq == seq and order.expire_time_us == expire:
                self.remove(order)
                return order
        return None

    # -- state ---------------------------------------------------------------------------------------
    @classmethod
    def rebuilt(cls, next_seq: int, clock_us: int, rows: Iterable[list[Any]]) -> Book:
        """A book from its counters and its orders' ``Order.to_state`` rows, in any order: they are put back in
        ``seq`` order, so every level's queue and the stops come back exactly. ``changed`` starts empty."""
        book = cls()
        for row in sorted(rows, key=_seq_of_row):
            order = Order.from_state(row)
            if order.is_stop:
                book.add_stop(order)
            else:
                book.rest(order)
        book.next_seq = next_seq
        book.clock_us = clock_us
        book.changed.clear()
        return book


_SEQ_COLUMN: Final = 13  # where Order.to_state puts seq


def _seq_of_row(row: list[Any]) -> int:
    seq: int = row[_SEQ_COLUMN]
    return seq
