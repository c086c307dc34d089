"""The simulated venue core: price-time priority matching of ``venue.orders`` (docs/ORDER_PATH.md, "venue").

Input: ``venue.orders`` (``VenueOrder`` NEW / CANCEL / AMEND, key symbol). Output: ``venue.executions``
(``ExecutionReport``, key account: the taker's and the maker's own account for the two reports of a fill).
The matching rules live in ``processors.venue.matching``, the book in ``processors.venue.book``; this module
turns records into calls and what happened into records.

- One book per (venue, symbol): the ``venue`` field of the order names it, so several named venues run side by
  side; their fees come from ``VenueConfig`` (``processors.venue.config``).
- Time is the order's event time: each book keeps the latest it has seen, GTD orders expire against it before
  the message is handled, and a DAY order gets the end of its UTC day (event time) as expire time.
- Ids: every report's meta is what ``derived_meta(cause, "venue", index)`` gives (built inline, reading the
  cause once per event), but for the correlation id (below). A FILL's ``fill_id`` is its report's event id:
  deterministic (a replay or a redelivered order gives the same ids) and different for the taker's and the
  maker's report, so an account trading with itself still gets two fills that dedupe apart.
- A report about an order carries that order's correlation id (a maker's fill belongs to the maker's story);
  its causation id is the venue order that caused it.

State: per partition key (the symbol), ``{"books": [{"venue", "symbol", "next_seq", "clock_us", "orders"}]}``
with every working order as a row carrying its priority (``seq``): ``Book.to_state`` / ``Book.from_state``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from processors.core import Emit, Event, Record, StateChanges, derived_event_id
from processors.venue.book import Book, Order
from processors.venue.config import DEFAULT_CONFIG, VenueConfig
from processors.venue.matching import Fees, Output, Report, amend, cancel, expire_due, new_order
from topics.catalogue import VENUE_EXECUTIONS, VENUE_ORDERS

STAGE: Final = "venue"
VENUE_ORDER: Final = "shrivenquant.venue.VenueOrder"
EXECUTION_REPORT: Final = "shrivenquant.venue.ExecutionReport"
DAY_US: Final = 86_400 * 1_000_000

BookKey = tuple[str, str]  # (venue, symbol)


def day_end_us(event_time_us: int) -> int:
    """The end of the UTC day of an event time: when a DAY order expires."""
    return (event_time_us // DAY_US + 1) * DAY_US


def order_from(record: Mapping[str, Any]) -> Order:
    """The venue's order for a NEW ``VenueOrder``."""
    time_in_force: str = record["time_in_force"]
    meta = record["meta"]
    if time_in_force == "GTD":
        expire: int | None = record["expire_time_us"]
    elif time_in_force == "DAY":
        expire = day_end_us(meta["event_time_us"])
    else:
        expire = None
    return Order(
        record["order_id"],
        record["account"],
        record["side"],
        record["order_type"],
        time_in_force,
        quantity=record["quantity"],
        price=record["price"],
        stop_price=record["stop_price"],
        post_only=record["post_only"],
        expire_time_us=expire,
        correlation_id=meta["correlation_id"],
        parent_order_id=record["parent_order_id"],
    )


class VenueCore:
    """A simulated venue for the symbols of the partitions a worker owns (see the module docstring)."""

    name: ClassVar[str] = STAGE
    inputs: ClassVar[tuple[str, ...]] = (VENUE_ORDERS,)
    broadcast_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = (VENUE_EXECUTIONS,)

    def __init__(self, config: VenueConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._books: dict[str, dict[BookKey, Book]] = {}  # partition key -> its books
        self._dirty: set[str] = set()
        self._fees: dict[str, Fees] = {}  # venue -> its fees, looked up once

    # -- the Core protocol ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Emit]:
        if event.schema != VENUE_ORDER:
            raise ValueError(f"venue does not take {event.schema} (topic {event.topic})")
        record = event.record
        venue: str = record["venue"]
        symbol: str = record["symbol"]
        key = symbol if event.key is None else event.key
        books = self._books.get(key)
        book = None if books is None else books.get((venue, symbol))
        if book is None:
            book = self._new_book(key, venue, symbol)
        now: int = record["meta"]["event_time_us"]
        book.clock_us = max(book.clock_us, now)
        out: Output = []
        expire_due(book, out)
        action: str = record["action"]
        fees = self._fees.get(venue)
        if fees is None:
            fees = self._fees[venue] = self.config.fees_for(venue)
        if action == "NEW":
            new_order(book, fees, order_from(record), out)
        elif action == "CANCEL":
            cancel(book, record["order_id"], record["account"], out)
        elif action == "AMEND":
            amend(
                book,
                fees,
                record["order_id"],
                record["account"],
                quantity=record["quantity"],
                price=record["price"],
                stop_price=record["stop_price"],
                out=out,
            )
        else:
            raise ValueError(f"unknown venue action {action!r}")
        self._dirty.add(key)
        return self._reports(event, venue, symbol, out)

    def state_changes(self) -> StateChanges:
        changes: StateChanges = {key: self._key_state(key) for key in self._dirty}
        self._dirty.clear()
        return changes

    def restore(self, key: str, state: Record) -> None:
        self._books[key] = {
            (entry["venue"], entry["symbol"]): Book.from_state(entry) for entry in state.get("books", ())
        }

    # -- read access for tools and tests -----------------------------------------------------------------
    def book(self, venue: str, symbol: str, key: str | None = None) -> Book | None:
        """The live book of ``symbol`` at ``venue`` (do not modify), None when it has seen no order."""
        books = self._books.get(symbol if key is None else key)
        return None if books is None else books.get((venue, symbol))

    # -- internals --------------------------------------------------------------------------------------
    def _new_book(self, key: str, venue: str, symbol: str) -> Book:
        book = self._books.setdefault(key, {})[(venue, symbol)] = Book()
        return book

    def _key_state(self, key: str) -> Record:
        return {
            "books": [
                {"venue": venue, "symbol": symbol, **book.to_state()}
                for (venue, symbol), book in self._books[key].items()
            ]
        }

    def _reports(self, event: Event, venue: str, symbol: str, out: Output) -> list[Emit]:
        # derived_meta's fields, read once per event rather than once per report
        meta = event.record["meta"]
        cause_id: str = meta["event_id"]
        cause_correlation: str = meta["correlation_id"]
        event_time: int = meta["event_time_us"]
        ingest_time = event.ingest_time_us
        emits: list[Emit] = []
        for item in out:
            if type(item) is not Report:
                continue  # a TradePrint: it only drives stop triggers
            event_id = derived_event_id(cause_id, STAGE, len(emits))
            exec_type = item.exec_type
            account = item.account
            record = {
                "meta": {
                    "event_id": event_id,
                    "producer": STAGE,
                    "event_time_us": event_time,
                    "ingest_time_us": ingest_time,
                    "causation_id": cause_id,
                    "correlation_id": item.correlation_id or cause_correlation,
                },
                "venue": venue,
                "symbol": symbol,
                "account": account,
                "order_id": item.order_id,
                "exec_type": exec_type,
                "fill_id": event_id if exec_type == "FILL" else None,
                "last_quantity": item.last_quantity,
                "last_price": item.last_price,
                "liquidity": item.liquidity,
                "fee": item.fee,
                "cum_quantity": item.cum,
                "leaves_quantity": item.leaves,
                "reject_reason": item.reject_reason,
                "detail": item.detail,
            }
            emits.append(Emit(VENUE_EXECUTIONS, account, EXECUTION_REPORT, record))
        return emits
