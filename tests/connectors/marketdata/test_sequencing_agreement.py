"""The connector and the order book core apply one rule: what ``BookSync`` publishes, the core applies without
ever seeing a gap, and its book is the venue's, for each market's documented streams and faults.

The venue here follows Binance's documents: spot ids are contiguous (``U == previous u + 1``); futures ids
jump (here every ``U`` is past ``pu + 1``) and each event names the previous one's ``u`` in ``pu``. A snapshot is the
venue's book at the last change it applied: at an event boundary (``lastUpdateId == u`` of the last event)
or in the middle of the next event (changes applied, not yet sent).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from _md_builders import P, Q
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.marketdata.binance_messages import Market, venue_of
from connectors.marketdata.book_sync import BookSync
from connectors.marketdata.messages import BookSnapshot, DepthDiff, Level
from connectors.marketdata.records import meta, to_emit
from processors.core import Event
from processors.orderbook.core import OrderBookCore
from processors.orderbook.sequencing import rule_for
from schemas.names import FEED_STATUS

SYMBOL = "BTCUSDT"
MARKETS: list[Market] = ["spot", "futures", "coinm"]


@dataclass
class Venue:
    """One symbol's book at a venue, numbering each level change and sending changes as depth events."""

    market: Market
    rng: random.Random
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    applied: int = 1000  # id of the last change applied to the book
    sent: int = 1000  # u of the last event sent (futures: the next event's pu)
    pending: list[tuple[int, str, int, int]] = field(default_factory=list)  # (id, side, price, quantity)

    def change(self, count: int = 1) -> None:
        """Apply level changes to the book; they go out with the next event."""
        for _ in range(count):
            # Futures ids are not contiguous per symbol: an event's first id jumps past the previous u + 1.
            jumps = self.market != "spot" and not self.pending
            self.applied += self.rng.randint(2, 5) if jumps else 1
            side = self.rng.choice("ba")
            k = self.rng.randint(0, 6)
            price = (100 - k) * P if side == "b" else (101 + k) * P
            quantity = self.rng.choice([0, Q, 2 * Q, 3 * Q])
            book = self.bids if side == "b" else self.asks
            if quantity:
                book[price] = quantity
            else:
                book.pop(price, None)
            self.pending.append((self.applied, side, price, quantity))

    def event(self) -> DepthDiff:
        """Changes applied since the last event (at least one) as the next depth event."""
        if not self.pending:
            self.change()
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for _, side, price, quantity in self.pending:
            (bids if side == "b" else asks)[price] = quantity  # the latest change of a level wins
        diff = DepthDiff(
            SYMBOL,
            self.pending[0][0],
            self.pending[-1][0],
            None if self.market == "spot" else self.sent,
            0,
            tuple(bids.items()),
            tuple(asks.items()),
        )
        self.sent, self.pending = diff.last_id, []
        return diff

    def snapshot(self) -> BookSnapshot:
        return BookSnapshot(
            SYMBOL,
            self.applied,
            0,
            tuple(sorted(self.bids.items(), reverse=True)),
            tuple(sorted(self.asks.items())),
        )

    def book(self) -> tuple[list[Level], list[Level]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


class Pipeline:
    """Venue events through the connector's ``BookSync``; what it publishes through the order book core."""

    def __init__(self, market: Market, seed: int) -> None:
        self.market = market
        self.venue = Venue(market, random.Random(seed))
        self.sync = BookSync(rule_for(venue_of(market)))
        self.core = OrderBookCore()
        self.wants_snapshot = False
        self.connector_gaps: list[str] = []
        self.core_gaps: list[str] = []
        self.published = 0
        self.venue.change(5)
        self.venue.pending.clear()  # the book the venue starts with: nothing in flight
        self.venue.sent = self.venue.applied

    def send(self, *, lost: bool = False) -> DepthDiff:
        diff = self.venue.event()
        if not lost:
            step = self.sync.on_diff(diff)
            self._follow(step.publish, step.gaps, step.needs_snapshot)
        return diff

    def answer_snapshot(self) -> None:
        if self.wants_snapshot:
            self.wants_snapshot = False
            step = self.sync.on_snapshot(self.venue.snapshot())
            self._follow(step.publish, step.gaps, step.needs_snapshot)

    def reconnect(self, reason: str) -> None:
        """The stream was lost (a disconnect, a stall): whatever the venue sent meanwhile never arrives."""
        self.sync.reset(reason)
        self.wants_snapshot = False
        self.venue.change(self.venue.rng.randint(1, 5))
        self.venue.event()  # sent while nobody listened

    def _follow(self, publish: list[DepthDiff | BookSnapshot], gaps: list[str], needs_snapshot: bool) -> None:
        self.connector_gaps += gaps
        self.wants_snapshot = self.wants_snapshot or needs_snapshot
        for message in publish:
            self.published += 1
            emit = to_emit(message, venue_of(self.market), meta(f"e{self.published}", "test", 1, 1, "epoch"))
            event = Event(emit.topic, emit.key, emit.schema, emit.record, 1)
            for out in self.core.apply(event):
                if out.schema == FEED_STATUS:
                    self.core_gaps.append(out.record["detail"])

    def recover(self) -> None:
        """One more event and, if the connector asks for one, a snapshot of the venue as it is now."""
        self.send()
        self.answer_snapshot()
        self.send()

    def core_book(self) -> tuple[list[Level], list[Level], bool]:
        view = self.core.book_view(SYMBOL, 1000)
        assert view is not None
        return view["bids"], view["asks"], view["stale"]


def start(pipeline: Pipeline, *, mid_event: bool) -> None:
    """An event (the connector asks for a snapshot), then the snapshot: at the last event's u, or in the middle
    of the next event (``U <= lastUpdateId < u``)."""
    pipeline.send()
    if mid_event:
        pipeline.venue.change(2)
    pipeline.answer_snapshot()
    if mid_event:
        pipeline.venue.change(1)


def assert_in_sync(pipeline: Pipeline) -> None:
    bids, asks, stale = pipeline.core_book()
    assert not stale and pipeline.core_gaps == []
    assert (bids, asks) == pipeline.venue.book()


# -- the documented cases, through both ----------------------------------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("mid_event", [False, True], ids=["snapshot at u", "snapshot mid-event"])
def test_no_fault_connector_and_core_agree_and_the_book_is_the_venues(market: Market, mid_event: bool) -> None:
    pipeline = Pipeline(market, seed=1)
    start(pipeline, mid_event=mid_event)
    for _ in range(300):
        pipeline.send()
    assert pipeline.connector_gaps == [] and pipeline.sync.snapshots_accepted == 1
    assert_in_sync(pipeline)


@pytest.mark.parametrize("market", ["futures", "coinm"])
def test_futures_event_ending_at_the_snapshot_id_is_published_and_applied(market: Market) -> None:
    """u == L: the connector keeps it (spot would drop it) and the core applies it; the next U jumps."""
    pipeline = Pipeline(market, seed=2)
    first = pipeline.send()
    pipeline.answer_snapshot()  # lastUpdateId == first.last_id
    after = pipeline.send()
    assert after.previous_last_id == first.last_id
    view = pipeline.core.book_view(SYMBOL, 1)
    assert view is not None and view["sequence"] == after.last_id and pipeline.published == 3
    assert_in_sync(pipeline)


@pytest.mark.parametrize("market", MARKETS)
def test_gap_both_see_nothing_wrong_published_and_the_resync_restores_the_book(market: Market) -> None:
    pipeline = Pipeline(market, seed=3)
    start(pipeline, mid_event=False)
    for _ in range(20):
        pipeline.send()
    pipeline.send(lost=True)
    pipeline.send()
    assert len(pipeline.connector_gaps) == 1 and pipeline.wants_snapshot
    expected = "missing update ids" if market == "spot" else "pu="
    assert pipeline.connector_gaps[0].startswith(expected)
    pipeline.answer_snapshot()
    for _ in range(20):
        pipeline.send()
    assert pipeline.sync.snapshots_accepted == 2
    assert_in_sync(pipeline)  # the core never saw the gap: the connector published none of it


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("reason", ["after disconnected (connection closed)", "after stalled (no message for 30 s)"])
def test_reconnect_or_stall_starts_a_new_epoch_both_accept(market: Market, reason: str) -> None:
    pipeline = Pipeline(market, seed=4)
    start(pipeline, mid_event=True)
    for _ in range(10):
        pipeline.send()
    pipeline.reconnect(reason)
    start(pipeline, mid_event=False)
    for _ in range(10):
        pipeline.send()
    assert pipeline.connector_gaps == [] and pipeline.sync.snapshots_accepted == 2
    assert_in_sync(pipeline)


# -- the same, on random streams ---------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(MARKETS),
    st.integers(0, 2**32),
    st.lists(st.sampled_from(["send", "send", "send", "change", "lose", "snapshot", "reconnect"]), max_size=80),
)
def test_on_any_stream_the_core_applies_what_the_connector_publishes_without_a_gap(
    market: Market, seed: int, actions: list[str]
) -> None:
    pipeline = Pipeline(market, seed)
    for action in actions:
        if action == "send":
            pipeline.send()
        elif action == "change":
            pipeline.venue.change()
        elif action == "lose":
            pipeline.send(lost=True)
        elif action == "snapshot":
            pipeline.answer_snapshot()
        else:
            pipeline.reconnect("after disconnected")
    pipeline.recover()
    if pipeline.wants_snapshot:  # the recovery event revealed a loss the stream had not shown yet
        pipeline.recover()
    assert pipeline.sync.state == "LIVE"
    assert_in_sync(pipeline)
