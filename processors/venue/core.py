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
  its causation id is the event that caused it: the venue order, or the market event (a trade's fills).

State: per partition key (the symbol), its books (``Book``: the working orders, each with its priority
``seq`` and its market queue estimate), the order messages waiting out the latency, the market liquidity our
orders took (``MarketBook.taken``) and the market position this state had met (below). In the changelog it
is one small record for the symbol and one record per order a book holds and per waiting message
(``processors.venue.state``): a transaction writes the symbol record and the orders and messages it changed,
tombstones for those gone, never the whole book. Restored records come back in any order: they are kept
aside and the books built from them at the next event (``_settle_restored``), which also writes a symbol
of the earlier whole-symbol layout again in this one.

Fills from the market (``VenueConfig.market_liquidity``, docs/ORDER_PATH.md "venue")
----------------------------------------------------------------------------------
Broadcast inputs ``md.depth`` and ``md.trades``, read whole by every worker, keep one ``MarketBook`` per symbol
(``processors.venue.market``). Matching merges the two books: a marketable order takes the better price of
our resting orders and the market's displayed levels, level by level; at one price our resting orders go
first. A fill against the market is a TAKER fill at the level's price (no maker report: the maker is not
ours) and the quantity it took stays taken until an update sets that level again. A public trade fills our
resting orders it prints through, as MAKER (``processors.venue.market_fills``); an update lowers their queue
estimates. The internal book is never crossed: resting orders only ever meet each other through matching.

Broadcast state (the market books) is never in the changelog, and applying a market event to a symbol whose
orders this worker does not hold changes nothing and emits nothing (no ``Book`` is created for it). What a
market event does to orders this worker holds (fills, expiries, released latency, queue estimates) is keyed
state and goes to the changelog with the reports, in the same transaction.

Exactly once. Market events are read again whenever a core is rebuilt. The kafka engine means to replay them
*before* restoring keyed state (``_rebuild``), so that they meet no orders; but its drain stops at what the
fresh consumer has fetched, so part of the history can arrive after the restore, and the faust engine
restores first anyway. So the core relies on neither order:

- each symbol's keyed state saves the market position it had met (``MarketBook.position``); a market event
  at or before the restored position only rebuilds the market's book (``market.already_applied``), so a
  trade's fill, already emitted with the state that records it, is not emitted again;
- trades read *before* the restore (the history, including trades printed while the symbol had no worker)
  are not lost: the last ``VenueConfig.catch_up_trades`` trades of each symbol are kept, and those after the
  restored position fill the restored orders at the symbol's next event, with the ids they would have had
  live. Only trades older than that buffer can be missed; none is applied twice.
Report ids derive from the event that caused them: a trade's fills from the trade, a delayed order's
reports from the order message itself (whichever event released it), so ids are stable.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar, Final, NamedTuple

from processors.core import Emit, Event, Record, StateChanges, derived_event_id
from processors.venue.book import Book, Order
from processors.venue.config import DEFAULT_CONFIG, VenueConfig
from processors.venue.market import MarketBook, already_applied
from processors.venue.market_fills import cap_queues, fill_on_trade
from processors.venue.matching import Fees, Output, Report, amend, cancel, expire_due, new_order
from processors.venue.state import (
    BookKey,
    Restored,
    Restoring,
    order_state_key,
    order_value,
    pending_state_key,
    split_state_key,
    symbol_state_key,
)
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE, EXECUTION_REPORT, TRADE, VENUE_ORDER
from topics.catalogue import MD_DEPTH, MD_TRADES, VENUE_EXECUTIONS, VENUE_ORDERS

STAGE: Final = "venue"
MARKET_SCHEMAS: Final = frozenset((DEPTH_SNAPSHOT, DEPTH_UPDATE, TRADE))
DAY_US: Final = 86_400 * 1_000_000
_NONE_WRITTEN: Final[frozenset[int]] = frozenset()


class Pending(NamedTuple):
    """An order message waiting out the venue's latency."""

    ready_us: int  # arrival event time + latency: when the venue handles it
    arrival: int  # numbers the symbol's messages as they arrive: their order among equal ready times
    event: Event

    def value(self) -> Record:
        """Its changelog value (``processors.venue.state``)."""
        event = self.event
        return {
            "arrival": self.arrival,
            "ready_us": self.ready_us,
            "ingest_time_us": event.ingest_time_us,
            "record": event.record,
        }


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
    broadcast_inputs: ClassVar[tuple[str, ...]] = (MD_DEPTH, MD_TRADES)  # ignored when market_liquidity is off
    outputs: ClassVar[tuple[str, ...]] = (VENUE_EXECUTIONS,)

    def __init__(self, config: VenueConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._books: dict[str, dict[BookKey, Book]] = {}  # partition key -> its books
        self._pending: dict[str, list[Pending]] = {}  # partition key -> messages waiting, by ready time
        self._next_arrival: dict[str, int] = {}  # partition key -> the number its next waiting message gets
        self._dirty: set[str] = set()  # partition keys changed since the last state_changes()
        # What the changelog holds, to write only what differs: each key's symbol record and waiting messages
        self._symbol_written: dict[str, Record] = {}
        self._pending_written: dict[str, AbstractSet[int]] = {}
        self._gone: set[str] = set()  # symbol records of the earlier layout, to delete
        self._restoring: dict[str, Restoring] = {}  # partition key -> its records restored, books not built yet
        self._fees: dict[str, Fees] = {}  # venue -> its fees, looked up once
        self._markets: dict[str, MarketBook] = {}  # symbol -> the market's book: broadcast state, never saved
        self._seen: dict[str, Record] = {}  # key -> the market position its restored state had met
        self._recent_trades: dict[str, deque[Event]] = {}  # symbol -> its latest trades (broadcast state)
        self._catch_up: dict[str, list[Event]] = {}  # key -> trades read before its restore, not yet met
        self._taken_rows: dict[str, list[Any]] = {}  # symbol -> taken liquidity restored before its market book

    # -- the Core protocol ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Emit]:
        if self._restoring:
            self._settle_restored()
        schema = event.schema
        if schema == VENUE_ORDER:
            return self._on_order(event)
        if schema in MARKET_SCHEMAS:
            return self._on_market(event) if self.config.market_liquidity else []
        raise ValueError(f"venue does not take {schema} (topic {event.topic})")

    def state_changes(self) -> StateChanges:
        """The records of what changed since the last call, tombstones for what is gone (``processors.venue.state``).

        What restore alone changes (the earlier layout written again) comes with the first call after an event:
        an engine may call this right after restoring and drop the answer (the faust engine does).
        """
        changes: StateChanges = {}
        for key in self._dirty:
            self._changes_of(key, changes)
        for key in self._gone:
            changes[key] = None
        self._dirty.clear()
        self._gone.clear()
        return changes

    def _changes_of(self, key: str, changes: StateChanges) -> None:
        for (venue, symbol), book in self._books.get(key, {}).items():
            changed = book.changed
            if changed:
                orders = book.orders
                for order_id in changed:
                    order = orders.get(order_id)
                    state_key = order_state_key(key, venue, symbol, order_id)
                    changes[state_key] = None if order is None else order_value(venue, symbol, order)
                changed.clear()
        pending = self._pending.get(key) or []
        written = self._pending_written.get(key, _NONE_WRITTEN)
        if pending or written:  # a waiting message's record never changes: written when it comes, deleted when gone
            for item in pending:
                if item.arrival not in written:
                    changes[pending_state_key(key, item.arrival)] = item.value()
            waiting = {item.arrival for item in pending}
            for arrival in written - waiting:
                changes[pending_state_key(key, arrival)] = None
            self._pending_written[key] = waiting
        record = self._symbol_record(key)
        if record != self._symbol_written.get(key):
            changes[symbol_state_key(key)] = record
            self._symbol_written[key] = record  # never modified: a fresh record is built each time

    def restore(self, key: str, state: Record) -> None:
        partition_key, kind = split_state_key(key)
        restoring = self._restoring.get(partition_key)
        if restoring is None:
            restoring = self._restoring[partition_key] = Restoring()
        restoring.take(kind, state)

    def _settle_restored(self) -> None:
        """Before the first event after restore: the books of every restored symbol, built from its records."""
        for key, restoring in self._restoring.items():
            if restoring.earlier is not None:  # the earlier layout's record goes, taken or superseded
                self._gone.add(key)
            self._take_back(key, restoring.result())
        self._restoring.clear()

    def _take_back(self, key: str, restored: Restored) -> None:
        symbol = restored.symbol
        rows = restored.rows
        books = self._books[key] = {}
        params = {(entry["venue"], entry["symbol"]): entry for entry in symbol["books"]}
        for book_key in [*params, *sorted(rows.keys() - params.keys())]:
            book_rows = rows.get(book_key, [])
            entry = params.get(book_key)
            if entry is None:  # orders without their book's counters: the next seq after theirs
                entry = {"next_seq": 1 + max(Order.from_state(row).seq for row in book_rows), "clock_us": 0}
            book = books[book_key] = Book.rebuilt(entry["next_seq"], entry["clock_us"], book_rows)
            book.market = self._markets.get(book_key[1])
            if restored.migrated:
                book.changed.update(book.orders)
        self._pending[key] = sorted(
            (
                Pending(
                    value["ready_us"],
                    value["arrival"],
                    Event(VENUE_ORDERS, key, VENUE_ORDER, value["record"], value["ingest_time_us"]),
                )
                for value in restored.pending
            ),
            key=_waiting_order,
        )
        self._next_arrival[key] = symbol["next_arrival"]
        if restored.migrated:
            self._dirty.add(key)  # nothing of it is in this layout yet: everything is written
        else:
            self._symbol_written[key] = symbol
            self._pending_written[key] = {value["arrival"] for value in restored.pending}
        taken: list[Any] = symbol["market_taken"]
        market = self._markets.get(key)
        if market is not None:
            market.restore_taken(taken)
        elif taken:  # restored before any market data: for the market book to come
            self._taken_rows[key] = taken
        seen = symbol["market_seen"]
        if seen is not None:
            self._seen[key] = seen
            missed = [e for e in self._recent_trades.get(key, ()) if not already_applied(seen, True, e.record)]
            if missed:  # read before this restore (rebuilt broadcast state): the orders meet them next
                self._catch_up[key] = missed

    def broadcast_state(self) -> Record:
        return {
            "markets": {symbol: market.to_state() for symbol, market in self._markets.items()},
            "recent_trades": {
                symbol: [[event.record, event.ingest_time_us] for event in trades]
                for symbol, trades in self._recent_trades.items()
            },
        }

    def restore_broadcast(self, state: Record) -> None:
        """Into a fresh core, before any keyed state: the market books and the trades kept for catching up."""
        self._markets = {symbol: MarketBook.from_state(row) for symbol, row in state.get("markets", {}).items()}
        self._recent_trades = {
            symbol: deque(
                (Event(MD_TRADES, symbol, TRADE, record, ingest_time_us) for record, ingest_time_us in rows),
                maxlen=self.config.catch_up_trades,
            )
            for symbol, rows in state.get("recent_trades", {}).items()
        }

    # -- order messages ---------------------------------------------------------------------------------
    def _on_order(self, event: Event) -> list[Emit]:
        record = event.record
        key: str = record["symbol"] if event.key is None else event.key
        now: int = record["meta"]["event_time_us"]
        emits = self._caught_up(key) if self._catch_up else []
        pending = self._pending.get(key)
        if pending and pending[0].ready_us < now:
            emits += self._release(key, now)
        latency = self.config.latency_for(record["venue"])
        if latency:
            arrival = self._next_arrival.get(key, 0)
            self._next_arrival[key] = arrival + 1
            waiting = Pending(now + latency, arrival, event)
            bisect.insort(self._pending.setdefault(key, []), waiting, key=_ready_us)  # after equal ready times
            self._dirty.add(key)
            return emits
        if emits:
            emits += self._handle_order(key, event)
            return emits
        return self._handle_order(key, event)

    def _release(self, key: str, now: int) -> list[Emit]:
        """Handle the waiting messages of ``key`` that became ready before ``now``, oldest ready first."""
        pending = self._pending.get(key)
        if not pending or pending[0].ready_us >= now:
            return []
        emits: list[Emit] = []
        while pending and pending[0].ready_us < now:
            ready_us, _, event = pending.pop(0)
            record = {**event.record, "meta": {**event.record["meta"], "event_time_us": ready_us}}
            emits += self._handle_order(key, Event(event.topic, event.key, event.schema, record, event.ingest_time_us))
        self._dirty.add(key)
        return emits

    def _handle_order(self, key: str, event: Event) -> list[Emit]:
        record = event.record
        venue: str = record["venue"]
        symbol: str = record["symbol"]
        books = self._books.get(key)
        book = None if books is None else books.get((venue, symbol))
        if book is None:
            book = self._new_book(key, venue, symbol)
        now: int = record["meta"]["event_time_us"]
        book.clock_us = max(book.clock_us, now)
        out: Output = []
        expire_due(book, out)
        action: str = record["action"]
        fees = self._fees.get(venue) or self._fees_for(venue)
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

    # -- market data ------------------------------------------------------------------------------------
    def _on_market(self, event: Event) -> list[Emit]:
        record = event.record
        symbol: str = record["symbol"]
        market = self._markets.get(symbol)
        if market is None:
            market = self._markets[symbol] = MarketBook()
            market.restore_taken(self._taken_rows.pop(symbol, []))
            for book_key, book in self._books.get(symbol, {}).items():
                if book_key[1] == symbol:
                    book.market = market
        schema = event.schema
        is_trade = schema == TRADE
        if is_trade:
            recent = self._recent_trades.get(symbol)
            if recent is None:
                recent = self._recent_trades[symbol] = deque(maxlen=self.config.catch_up_trades)
            recent.append(event)
        seen = self._seen.get(symbol)
        replayed = seen is not None and already_applied(seen, is_trade, record)
        market.note(is_trade, record)
        if replayed:  # the restored orders met it before: rebuild the market's book only
            if schema == DEPTH_UPDATE:
                market.apply_update(record)
            elif schema == DEPTH_SNAPSHOT:
                market.load_snapshot(record)
            return []
        emits = self._caught_up(symbol)
        emits += self._release(symbol, record["meta"]["event_time_us"])  # ready orders see the book as it was
        levels: list[Any] | None = []  # the market levels an update set (None: all, after a snapshot)
        if schema == DEPTH_UPDATE:
            levels = market.apply_update(record)
        elif schema == DEPTH_SNAPSHOT:
            market.load_snapshot(record)
            levels = None  # every level
        emits += self._market_to_orders(event, symbol, levels)
        return emits

    def _market_to_orders(self, event: Event, symbol: str, levels: list[Any] | None) -> list[Emit]:
        """What one market event does to the orders of ``symbol`` held here: expiries by its time, fills and
        triggers by a trade, queue estimates by the levels an update or snapshot set."""
        books = self._books.get(symbol)
        if not books:
            return []  # no orders of this symbol here: nothing keyed to change
        record = event.record
        now: int = record["meta"]["event_time_us"]
        is_trade = event.schema == TRADE
        emits: list[Emit] = []
        touched = False
        for (venue, book_symbol), book in books.items():
            if book_symbol != symbol or book.is_empty():
                continue
            book.clock_us = max(book.clock_us, now)
            out: Output = []
            expire_due(book, out)
            if is_trade:
                touched = (
                    fill_on_trade(
                        book,
                        self._fees_for(venue),
                        record["price"],
                        record["quantity"],
                        aggressor=record["aggressor"],
                        time_us=now,
                        out=out,
                    )
                    or touched
                )
            elif levels is None or levels:
                touched = cap_queues(book, levels) or touched
            if out:
                touched = True
                emits += self._reports(event, venue, symbol, out, first_index=len(emits))
        if touched:
            self._dirty.add(symbol)
        return emits

    def _caught_up(self, key: str) -> list[Emit]:
        """The fills of trades read before ``key``'s restore that its orders had not met (usually none)."""
        missed = self._catch_up.pop(key, None)
        if not missed:
            return []
        return [emit for trade in missed for emit in self._market_to_orders(trade, key, [])]

    # -- read access for tools and tests -----------------------------------------------------------------
    def book(self, venue: str, symbol: str, key: str | None = None) -> Book | None:
        """The live book of ``symbol`` at ``venue`` (do not modify), None when it has seen no order."""
        if self._restoring:
            self._settle_restored()
        books = self._books.get(symbol if key is None else key)
        return None if books is None else books.get((venue, symbol))

    # -- internals --------------------------------------------------------------------------------------
    def _new_book(self, key: str, venue: str, symbol: str) -> Book:
        book = self._books.setdefault(key, {})[(venue, symbol)] = Book()
        book.market = self._markets.get(symbol)
        return book

    def _fees_for(self, venue: str) -> Fees:
        fees = self._fees.get(venue)
        if fees is None:
            fees = self._fees[venue] = self.config.fees_for(venue)
        return fees

    def _symbol_record(self, key: str) -> Record:
        """The symbol record of ``key`` as it is now (``processors.venue.state``)."""
        market = self._markets.get(key)
        return {
            "books": [
                {"venue": venue, "symbol": symbol, "next_seq": book.next_seq, "clock_us": book.clock_us}
                for (venue, symbol), book in self._books.get(key, {}).items()
            ],
            "next_arrival": self._next_arrival.get(key, 0),
            # taken rows restored before the symbol's market book came are still to be kept
            "market_taken": self._taken_rows.get(key, []) if market is None else market.taken_state(),
            "market_seen": None if market is None or not market.seen_any() else market.position(),
        }

    def _reports(self, event: Event, venue: str, symbol: str, out: Output, first_index: int = 0) -> list[Emit]:
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
            event_id = derived_event_id(cause_id, STAGE, first_index + len(emits))
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


def _ready_us(item: Pending) -> int:
    return item.ready_us


def _waiting_order(item: Pending) -> tuple[int, int]:
    return item.ready_us, item.arrival
