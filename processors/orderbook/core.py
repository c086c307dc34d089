"""The order book core: an L2 book per symbol from depth snapshots and updates, top of book and a depth-N view
on change, and resync notices when the book cannot be trusted.

Inputs, co-partitioned by symbol: ``md.depth`` (DepthSnapshot, DepthUpdate) and ``md.trades`` (Trade).
Outputs, keyed by symbol: ``md.book.top`` (BookTop), ``md.feed.status`` (FeedStatus: GAP_DETECTED with a
resync request, RESYNCED), ``md.analytics`` (MarketAnalytics).

Book life cycle per symbol
--------------------------
- No snapshot yet: updates cannot be placed; the first one emits a resync request (once).
- A snapshot loads the book at its ``last_update_id`` and clears any stale state (``RESYNCED`` when a resync
  had been requested). Updates are sequence-checked with the venue's documented rule
  (``processors.orderbook.sequencing``, the one the connector applies too): covered and stale ones are
  ignored, the next one applied (quantity 0 removes a level).
- A gap, or a book that ends crossed (best bid >= best ask, which only missed updates can cause), makes the
  book stale: one ``FeedStatus(GAP_DETECTED)`` naming the cause and asking for a resync, one ``BookTop`` with
  ``stale=true`` and no prices or levels (withdrawing what was published, if anything was), and no more
  publishing until a new snapshot. Wrong prices are never
  published.
- A ``BookTop`` goes out only when the published view (best ``publish_depth`` levels per side, stale flag)
  changes.

Analytics (``processors.orderbook.analytics.engine``): one ``MarketAnalytics`` per ``interval_us`` of event
time, from the book as the depth input crosses the boundary and the trades of the interval by their own event
time, so live and replay give the same records however the two inputs interleave; a record's id derives from
symbol and boundary. ``end_of_input`` closes the last boundaries of a finite input.

State (the changelog value per symbol, JSON-able): venue, the book's levels and update id, the sync flags,
the last published view, and the analytics' rolling windows (``processors.orderbook.analytics.engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

from processors.core import Emit, Event, Record, StateChanges, derived_event_id, derived_meta
from processors.orderbook.analytics.engine import BookSample, SymbolAnalytics
from processors.orderbook.book import L2Book, Level
from processors.orderbook.config import DEFAULT_CONFIG, OrderBookConfig
from processors.orderbook.sequencing import Verdict, rule_for
from schemas.names import BOOK_TOP, DEPTH_SNAPSHOT, DEPTH_UPDATE, FEED_STATUS, MARKET_ANALYTICS, TRADE
from topics.catalogue import MD_ANALYTICS, MD_BOOK_TOP, MD_DEPTH, MD_FEED_STATUS, MD_TRADES

STAGE: Final = "orderbook"


View = tuple[list[Level], list[Level], bool]  # (bids, asks, stale) as last published


class SymbolBook:
    """Everything the core keeps for one symbol."""

    __slots__ = ("analytics", "book", "fresh", "published", "resync_requested", "synced", "venue")

    def __init__(self, venue: str, analytics: SymbolAnalytics) -> None:
        self.venue = venue
        self.book = L2Book()
        self.synced = False  # a snapshot is loaded and nothing went wrong since
        self.fresh = False  # no update applied since the snapshot (the first one may overlap it)
        self.resync_requested = False  # a GAP_DETECTED went out for the current stale episode
        self.published: View | None = None
        self.analytics = analytics

    def to_record(self) -> Record:
        published: Record | None = None
        if self.published is not None:
            bids, asks, stale = self.published
            published = {
                "bids": [list(level) for level in bids],
                "asks": [list(level) for level in asks],
                "stale": stale,
            }
        return {
            "venue": self.venue,
            "book": self.book.to_record(),
            "synced": self.synced,
            "fresh": self.fresh,
            "resync_requested": self.resync_requested,
            "published": published,
            "analytics": self.analytics.to_record(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], analytics: SymbolAnalytics) -> SymbolBook:
        state = cls(record["venue"], analytics)
        state.book = L2Book.from_record(record["book"])
        state.synced = record["synced"]
        state.fresh = record["fresh"]
        state.resync_requested = record["resync_requested"]
        published = record["published"]
        if published is not None:
            state.published = (
                [(p, q) for p, q in published["bids"]],
                [(p, q) for p, q in published["asks"]],
                published["stale"],
            )
        return state


class OrderBookCore:
    """L2 books, top-of-book views, resync notices and scheduled analytics per symbol (module docstring)."""

    name: ClassVar[str] = STAGE
    inputs: ClassVar[tuple[str, ...]] = (MD_DEPTH, MD_TRADES)
    broadcast_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = (MD_BOOK_TOP, MD_ANALYTICS, MD_FEED_STATUS)

    def __init__(self, config: OrderBookConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._symbols: dict[str, SymbolBook] = {}
        self._dirty: set[str] = set()
        self._handlers: dict[str, Callable[[Event, SymbolBook, list[Emit]], None]] = {
            DEPTH_UPDATE: self._on_update,
            DEPTH_SNAPSHOT: self._on_snapshot,
            TRADE: self._on_trade,
        }

    # -- the Core protocol ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Emit]:
        handler = self._handlers.get(event.schema)
        if handler is None:
            raise ValueError(f"orderbook does not take {event.schema} (topic {event.topic})")
        record = event.record
        symbol: str = record["symbol"]
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = SymbolBook(record["venue"], self._new_analytics(symbol))
        self._dirty.add(symbol)
        emits: list[Emit] = []
        analytics = state.analytics
        if event.schema == TRADE:
            handler(event, state, emits)
        else:
            time_us: int = record["meta"]["event_time_us"]
            if time_us >= analytics.depth_next_boundary_us:  # the depth input crosses a boundary
                analytics.before_depth(time_us, lambda: self._sample(state))
            handler(event, state, emits)
            analytics.after_depth(time_us)
        if analytics.due():
            self._publish_analytics(event.record["symbol"], state, event.ingest_time_us, emits)
        return emits

    def state_changes(self) -> StateChanges:
        changes: StateChanges = {symbol: self._symbols[symbol].to_record() for symbol in sorted(self._dirty)}
        self._dirty.clear()
        return changes

    def restore(self, key: str, state: Record) -> None:
        analytics = SymbolAnalytics.from_record(state["analytics"], self.config, key)
        self._symbols[key] = SymbolBook.from_record(state, analytics)

    def broadcast_state(self) -> Record:
        return {}  # the order book has no broadcast inputs

    def restore_broadcast(self, state: Record) -> None:
        return None

    # -- read access for tools and tests -----------------------------------------------------------------
    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    def book_view(self, symbol: str, depth: int) -> dict[str, Any] | None:
        """The book's best ``depth`` levels per side and whether it is stale; None for an unknown symbol."""
        state = self._symbols.get(symbol)
        if state is None:
            return None
        book = state.book
        return {
            "venue": state.venue,
            "sequence": book.last_update_id,
            "bids": book.bids.top(depth),
            "asks": book.asks.top(depth),
            "stale": not state.synced,
        }

    def end_of_input(self, symbol: str) -> list[Emit]:
        """For a finite input read to its end (a replay, `sq analytics`): the analytics of every boundary an
        input has passed, without waiting for the other input or the lateness. Not for a live stream."""
        state = self._symbols.get(symbol)
        if state is None:
            return []
        emits: list[Emit] = []
        latest = max(
            time for time in (state.analytics.depth_time_us, state.analytics.trade_time_us, 0) if time is not None
        )
        self._publish_analytics(symbol, state, latest, emits, end_of_input=True)
        return emits

    # -- depth ----------------------------------------------------------------------------------------------
    def _on_snapshot(self, event: Event, state: SymbolBook, emits: list[Emit]) -> None:
        record = event.record
        book = state.book
        book.load_snapshot(
            ((level["price"], level["quantity"]) for level in record["bids"]),
            ((level["price"], level["quantity"]) for level in record["asks"]),
            record["last_update_id"],
        )
        state.venue = record["venue"]
        if book.crossed():
            self._go_stale(
                event, state, f"snapshot {book.last_update_id} is crossed: {self._cross_detail(book)}", emits
            )
            return
        state.synced = True
        state.fresh = True
        if state.resync_requested:
            state.resync_requested = False
            emits.append(
                self._status(event, state, "RESYNCED", f"snapshot at update id {book.last_update_id}", len(emits))
            )
        self._publish_if_changed(event, state, emits)

    def _on_update(self, event: Event, state: SymbolBook, emits: list[Emit]) -> None:
        record = event.record
        if not state.synced:
            if not state.resync_requested:
                state.resync_requested = True
                emits.append(
                    self._status(event, state, "GAP_DETECTED", "no snapshot yet: resync requested", len(emits))
                )
            return
        book = state.book
        last: int = record["last_update_id"]
        assert book.last_update_id is not None  # a synced book has a snapshot
        verdict, detail = rule_for(record["venue"]).check(
            record["first_update_id"],
            last,
            record["previous_last_update_id"],
            book.last_update_id,
            bridged=not state.fresh,
        )
        if verdict is Verdict.IGNORE:
            return
        if verdict is Verdict.GAP:
            self._go_stale(event, state, detail, emits)
            return
        # Whether a side's published levels can have changed: not when that side of the view is full and every
        # level the update sets lies strictly behind its last published level.
        view = state.published if state.published is not None and not state.published[2] else None
        bids, asks = book.bids, book.asks
        bids_touched = asks_touched = view is None
        if record["bids"]:
            floor = _full_view_edge(view[0], self.config.publish_depth) if view is not None else None
            for level in record["bids"]:
                price = level["price"]
                bids.set(price, level["quantity"])
                if floor is None or price >= floor:
                    bids_touched = True
        if record["asks"]:
            ceiling = _full_view_edge(view[1], self.config.publish_depth) if view is not None else None
            for level in record["asks"]:
                price = level["price"]
                asks.set(price, level["quantity"])
                if ceiling is None or price <= ceiling:
                    asks_touched = True
        book.last_update_id = last
        state.fresh = False
        if book.crossed():
            self._go_stale(event, state, f"crossed after update {last}: {self._cross_detail(book)}", emits)
            return
        if bids_touched or asks_touched:
            self._publish_if_changed(event, state, emits, bids_touched, asks_touched)

    def _go_stale(self, event: Event, state: SymbolBook, cause: str, emits: list[Emit]) -> None:
        """Stop trusting the book: ask for a resync once and withdraw the published prices."""
        state.synced = False
        if not state.resync_requested:
            state.resync_requested = True
            emits.append(self._status(event, state, "GAP_DETECTED", f"{cause}; resync requested", len(emits)))
        if state.published is not None:  # withdraw published prices; a book never published has none to withdraw
            self._publish_if_changed(event, state, emits)

    def _publish_if_changed(
        self, event: Event, state: SymbolBook, emits: list[Emit], bids_touched: bool = True, asks_touched: bool = True
    ) -> None:
        """Publish the view if it changed; a side not ``touched`` is known to equal its published levels."""
        published = state.published
        if state.synced:
            depth, book = self.config.publish_depth, state.book
            if published is None or published[2]:
                view: View = (book.bids.top(depth), book.asks.top(depth), False)
            else:
                view = (
                    book.bids.top(depth) if bids_touched else published[0],
                    book.asks.top(depth) if asks_touched else published[1],
                    False,
                )
        else:
            view = ([], [], True)  # a stale book publishes no prices
        if view == published:
            return
        state.published = view
        emits.append(self._book_top(event, state, view, len(emits)))

    @staticmethod
    def _cross_detail(book: L2Book) -> str:
        return f"best bid {book.bids.best_price()} >= best ask {book.asks.best_price()}"

    # -- trades -----------------------------------------------------------------------------------------
    def _on_trade(self, event: Event, state: SymbolBook, emits: list[Emit]) -> None:
        record = event.record
        state.analytics.add_trade(
            record["meta"]["event_time_us"], record["price"], record["quantity"], record["aggressor"]
        )

    # -- analytics --------------------------------------------------------------------------------------
    def _new_analytics(self, symbol: str) -> SymbolAnalytics:
        return SymbolAnalytics(self.config, symbol)

    def _publish_analytics(
        self, symbol: str, state: SymbolBook, ingest_time_us: int, emits: list[Emit], *, end_of_input: bool = False
    ) -> None:
        """A MarketAnalytics record for every boundary that can be closed now.

        Its id derives from the symbol and the boundary, not from the event that happened to close it, so a
        replay that interleaves the inputs differently names the same records the same."""
        for values in state.analytics.close_due(lambda: self._sample(state), end_of_input=end_of_input):
            boundary: int = values["window_end_us"]
            event_id = derived_event_id(f"analytics|{state.venue}|{symbol}|{boundary}", STAGE, 0)
            meta = {
                "event_id": event_id,
                "producer": STAGE,
                "event_time_us": boundary,
                "ingest_time_us": ingest_time_us,
                "causation_id": None,
                "correlation_id": event_id,
            }
            record = {"meta": meta, "venue": state.venue, "symbol": symbol, **values}
            emits.append(Emit(MD_ANALYTICS, symbol, MARKET_ANALYTICS, record))

    def _sample(self, state: SymbolBook) -> BookSample | None:
        """What the book-based analytics need, or None while the book is stale or one side is empty."""
        if not state.synced:
            return None
        book = state.book
        bid, ask = book.bids.best(), book.asks.best()
        if bid is None or ask is None:
            return None
        levels = self.config.imbalance_levels
        return BookSample(
            bid_price=bid[0],
            bid_quantity=bid[1],
            ask_price=ask[0],
            ask_quantity=ask[1],
            bid_depth=sum(quantity for _, quantity in book.bids.top(levels)),
            ask_depth=sum(quantity for _, quantity in book.asks.top(levels)),
        )

    # -- records ----------------------------------------------------------------------------------------
    def _book_top(self, event: Event, state: SymbolBook, view: View, index: int) -> Emit:
        bids, asks, stale = view
        symbol: str = event.record["symbol"]
        best_bid = bids[0] if bids else (None, None)
        best_ask = asks[0] if asks else (None, None)
        return Emit(
            MD_BOOK_TOP,
            symbol,
            BOOK_TOP,
            {
                "meta": derived_meta(event, STAGE, index),
                "venue": state.venue,
                "symbol": symbol,
                "sequence": state.book.last_update_id or 0,
                "bid_price": best_bid[0],
                "bid_quantity": best_bid[1],
                "ask_price": best_ask[0],
                "ask_quantity": best_ask[1],
                "bids": [{"price": price, "quantity": quantity} for price, quantity in bids],
                "asks": [{"price": price, "quantity": quantity} for price, quantity in asks],
                "stale": stale,
            },
        )

    @staticmethod
    def _status(event: Event, state: SymbolBook, status: str, detail: str, index: int) -> Emit:
        symbol: str = event.record["symbol"]
        return Emit(
            MD_FEED_STATUS,
            symbol,
            FEED_STATUS,
            {
                "meta": derived_meta(event, STAGE, index),
                "venue": state.venue,
                "symbol": symbol,
                "status": status,
                "detail": detail,
            },
        )


def _full_view_edge(levels: list[Level], depth: int) -> int | None:
    """The last published price of a side whose view is full (a level behind it cannot enter the view), else
    None: any level set may change a view that is not full."""
    return levels[-1][0] if len(levels) == depth else None
