"""The venue's keyed state in the changelog: a small record per symbol, one record per order it holds.

The partition key of the venue's state is the symbol (the key of ``venue.orders``). Its state keys
(``processors.core.STATE_SUBKEY_SEPARATOR``; a venue or symbol name must not contain it):

- ``"<symbol>|symbol"``: ``{"books": [{"venue", "symbol", "next_seq", "clock_us"}], "next_arrival",
  "market_taken", "market_seen"}``: each book's priority counter and clock (in the order the books were
  made: market events visit them in that order), the number the next waiting message gets, the market
  liquidity our orders took (``MarketBook.taken_state``: one row per market level taken from and not set by
  an update or snapshot since, so bounded by the market's displayed levels) and the market position the
  state had met (``MarketBook.position``: the last trade time's ids and a depth id). Small, whatever the
  book holds; written when it differs from what was last written.
- ``"<symbol>|order|<venue>|<book symbol>|<order id>"``: ``{"venue", "symbol", "order": <Order.to_state row>}``
  for each order a book holds (resting, or a stop waiting for its trigger), written when the order changed,
  a tombstone (None) when it left the book. The row carries the order's ``seq``: ``Book.rebuilt`` puts the
  orders back in priority order whatever order their records come back in.
- ``"<symbol>|pending|<arrival>"``: ``{"arrival", "ready_us", "ingest_time_us", "record"}`` for each order
  message waiting out the latency, written once when it arrives, a tombstone when it is handled. Messages
  wait in (ready time, arrival) order; ``arrival`` numbers them per symbol.

A transaction that touches one order of a symbol so writes that order's record and the symbol record, a few
hundred bytes, however many orders the symbol's books hold.

The earlier layout, one record per symbol at the key ``"<symbol>"`` (``{"books": [{"venue", "symbol",
"next_seq", "clock_us", "orders"}], "pending", "market_taken", "market_seen"}``), is still read: unless a
symbol record of this layout came back too (then it is the newer), its books and waiting messages are taken,
written again in this layout, and the old key is deleted (``processors.venue.core``).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from processors.core import STATE_SUBKEY_SEPARATOR, Record
from processors.venue.book import Order

SYMBOL_RECORD: Final = "symbol"
ORDER_RECORD: Final = "order"
PENDING_RECORD: Final = "pending"

BookKey = tuple[str, str]  # (venue, symbol)
Row = list[Any]  # an Order.to_state row


def symbol_state_key(key: str) -> str:
    return f"{key}{STATE_SUBKEY_SEPARATOR}{SYMBOL_RECORD}"


def order_state_key(key: str, venue: str, symbol: str, order_id: str) -> str:
    sep = STATE_SUBKEY_SEPARATOR
    return f"{key}{sep}{ORDER_RECORD}{sep}{venue}{sep}{symbol}{sep}{order_id}"


def pending_state_key(key: str, arrival: int) -> str:
    sep = STATE_SUBKEY_SEPARATOR
    return f"{key}{sep}{PENDING_RECORD}{sep}{arrival}"


def split_state_key(key: str) -> tuple[str, str | None]:
    """(partition key, kind of record) of a state key; kind None for a symbol record of the earlier layout."""
    partition_key, separator, rest = key.partition(STATE_SUBKEY_SEPARATOR)
    return partition_key, rest.partition(STATE_SUBKEY_SEPARATOR)[0] if separator else None


def order_value(venue: str, symbol: str, order: Order) -> Record:
    return {"venue": venue, "symbol": symbol, "order": order.to_state()}


class Restored(NamedTuple):
    """One symbol's state as the restored records give it, ready to build the books from."""

    symbol: Record  # the symbol record (its "books" list the books' counters, in the order they were made)
    rows: dict[BookKey, list[Row]]  # each book's order rows, in any order
    pending: list[Record]  # the waiting messages' values, in any order
    migrated: bool  # read from the earlier layout: everything is to be written again


class Restoring:
    """The records of one symbol as they come back, in any order, until the core builds its books from them."""

    __slots__ = ("earlier", "pending", "rows", "symbol")

    def __init__(self) -> None:
        self.symbol: Record | None = None
        self.earlier: Record | None = None
        self.rows: dict[BookKey, dict[str, Row]] = {}  # book -> order id -> row
        self.pending: dict[int, Record] = {}  # arrival -> value

    def take(self, kind: str | None, value: Record) -> None:
        """One record of the symbol (``split_state_key``'s kind)."""
        if kind is None:
            self.earlier = value
        elif kind == SYMBOL_RECORD:
            self.symbol = value
        elif kind == ORDER_RECORD:
            row: Row = value["order"]
            self.rows.setdefault((value["venue"], value["symbol"]), {})[row[0]] = row
        elif kind == PENDING_RECORD:
            self.pending[value["arrival"]] = value
        else:
            raise ValueError(f"venue state record of unknown kind {kind!r}")

    def result(self) -> Restored:
        """The symbol's state: from this layout's records if its symbol record came back, else the earlier one."""
        if self.symbol is None and self.earlier is not None:
            return _from_earlier_layout(self.earlier)
        symbol = self.symbol if self.symbol is not None else _EMPTY_SYMBOL
        rows = {book: list(by_id.values()) for book, by_id in self.rows.items()}
        return Restored(symbol, rows, list(self.pending.values()), migrated=False)


_EMPTY_SYMBOL: Final[Record] = {"books": [], "next_arrival": 0, "market_taken": [], "market_seen": None}


def _from_earlier_layout(state: Record) -> Restored:
    books: list[Record] = state.get("books", [])
    waiting: list[Record] = state.get("pending", [])
    symbol = {
        "books": [{k: entry[k] for k in ("venue", "symbol", "next_seq", "clock_us")} for entry in books],
        "next_arrival": len(waiting),
        "market_taken": state.get("market_taken", []),
        "market_seen": state.get("market_seen"),
    }
    rows = {(entry["venue"], entry["symbol"]): list(entry["orders"]) for entry in books}
    # the earlier layout listed them in waiting order: numbered in that order
    pending = [{**value, "arrival": arrival} for arrival, value in enumerate(waiting)]
    return Restored(symbol, rows, pending, migrated=True)
