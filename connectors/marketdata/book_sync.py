"""Binance's procedure for a correct local order book, as a per-symbol state machine (pure).

Binance documents it ("How to manage a local order book correctly"), for spot and for USD-M futures:

1. open the diff-depth stream and buffer its events;
2. fetch a REST depth snapshot (``lastUpdateId`` = L);
3. drop buffered events the snapshot already covers — spot: ``u <= L``; futures: ``u < L``;
4. the first event applied must straddle the snapshot — spot: ``U <= L + 1 <= u``; futures: ``U <= L <= u``;
   if the first buffered event starts later, the snapshot is too old: fetch another;
5. then every event must continue the previous one — spot: ``U == previous u + 1``; futures:
   ``pu == previous u``; otherwise there is a gap: start again from step 2.

The machine publishes the accepted snapshot, then exactly the chain of updates that continues it, so
md.depth always carries "snapshot, then contiguous updates"; a consumer keeping a book applies the same
rules (the first update after a snapshot straddles it as in step 4). A gap or a reconnection makes the next
accepted snapshot a resynchronisation. Stale events (``u`` at or before the last applied id) are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

from connectors.marketdata.binance_messages import Market
from connectors.marketdata.messages import BookSnapshot, DepthDiff

SyncState = Literal["BUFFERING", "LIVE"]
DEFAULT_MAX_BUFFER: Final = 10_000  # events buffered while a snapshot is fetched; older ones are dropped


@dataclass(slots=True)
class SyncStep:
    """What one input led to: what to publish, in order, and what the edge must do next."""

    publish: list[DepthDiff | BookSnapshot] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # detail of each gap detected
    resynced: str | None = None  # detail when a snapshot was accepted after a gap or a reconnection
    needs_snapshot: bool = False  # the edge must fetch a snapshot for this symbol
    rejected_snapshot: str | None = None  # why a snapshot could not be used (too old)
    dropped: int = 0  # events dropped: covered by the snapshot, stale, or pushed out of a full buffer


class BookSync:
    """The sync state of one symbol's depth stream (see the module docstring)."""

    def __init__(self, market: Market, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.market = market
        self.max_buffer = max_buffer
        self.state: SyncState = "BUFFERING"
        self.buffer: deque[DepthDiff] = deque()
        self.last_id: int | None = None  # the snapshot's L, then the u of each applied event
        self.bridged = False  # whether an event has been applied since the snapshot
        self.snapshot_pending = False  # a snapshot was asked for and has not come back yet
        self.snapshots_accepted = 0
        self._resync_reason: str | None = None

    # -- inputs ----------------------------------------------------------------------------------------------
    def on_diff(self, diff: DepthDiff) -> SyncStep:
        step = SyncStep()
        if self.state == "BUFFERING":
            self._buffer(diff, step)
        else:
            self._live(diff, step)
        return step

    def on_snapshot(self, snapshot: BookSnapshot) -> SyncStep:
        step = SyncStep()
        if self.state == "LIVE":
            return step  # an answer to a request made before a reset that already resynchronised
        self.snapshot_pending = False
        last = snapshot.last_update_id
        while self.buffer and self._covered(self.buffer[0], last):
            self.buffer.popleft()
            step.dropped += 1
        if self.buffer and not self._straddles(self.buffer[0], last):
            step.rejected_snapshot = (
                f"snapshot lastUpdateId={last} is older than the first buffered event "
                f"(U={self.buffer[0].first_id}); fetching another"
            )
            self._ask_snapshot(step)
            return step
        self.state, self.last_id, self.bridged = "LIVE", last, False
        step.publish.append(snapshot)
        if self.snapshots_accepted:
            step.resynced = f"{self._resync_reason or 'resynchronised'}: snapshot lastUpdateId={last}"
        self.snapshots_accepted += 1
        self._resync_reason = None
        buffered, self.buffer = self.buffer, deque()
        while buffered:
            diff = buffered.popleft()
            if self.state == "LIVE":
                self._live(diff, step)
            else:  # a gap inside the buffer: the rest waits for the next snapshot
                self._buffer(diff, step)
        return step

    def snapshot_failed(self) -> SyncStep:
        """The snapshot request failed: ask again (the edge paces retries)."""
        self.snapshot_pending = False
        step = SyncStep()
        if self.state == "BUFFERING" and self.buffer:
            self._ask_snapshot(step)
        return step

    def reset(self, reason: str) -> None:
        """The stream was lost (disconnect, stall): what follows needs a new snapshot."""
        self.state, self.bridged, self.last_id = "BUFFERING", False, None
        self.buffer.clear()
        self.snapshot_pending = False
        self._resync_reason = reason

    # -- the rules -------------------------------------------------------------------------------------------
    def _covered(self, diff: DepthDiff, last: int) -> bool:
        return diff.last_id <= last if self.market == "spot" else diff.last_id < last

    def _straddles(self, diff: DepthDiff, last: int) -> bool:
        if self.market == "spot":
            return diff.first_id <= last + 1 <= diff.last_id
        return diff.first_id <= last <= diff.last_id

    def _continues(self, diff: DepthDiff, last: int) -> bool:
        if self.market == "spot":
            return diff.first_id == last + 1
        return diff.previous_last_id == last

    def _gap_detail(self, diff: DepthDiff, last: int) -> str:
        if not self.bridged:
            return f"the first event after snapshot {last} starts at U={diff.first_id}: missing updates"
        if self.market == "spot":
            if diff.first_id > last + 1:
                return f"missing update ids {last + 1}..{diff.first_id - 1} (U={diff.first_id}, previous u={last})"
            return f"update ids overlap: U={diff.first_id} but the previous event's u={last}"
        return f"pu={diff.previous_last_id} but the previous event's u={last} (U={diff.first_id}, u={diff.last_id})"

    def _live(self, diff: DepthDiff, step: SyncStep) -> None:
        last = self.last_id
        assert last is not None  # LIVE always has the snapshot's id or the last applied one
        if self.bridged:
            if self._continues(diff, last):
                self._apply(diff, step)
            elif diff.last_id <= last:
                step.dropped += 1  # stale: already applied
            else:
                self._gap(diff, last, step)
        elif self._covered(diff, last):
            step.dropped += 1
        elif self._straddles(diff, last):
            self._apply(diff, step)
        else:
            self._gap(diff, last, step)

    def _apply(self, diff: DepthDiff, step: SyncStep) -> None:
        self.last_id, self.bridged = diff.last_id, True
        step.publish.append(diff)

    def _gap(self, diff: DepthDiff, last: int, step: SyncStep) -> None:
        detail = self._gap_detail(diff, last)
        step.gaps.append(detail)
        self.state, self.bridged = "BUFFERING", False
        self._resync_reason = f"after a gap ({detail})"
        self._buffer(diff, step)

    def _buffer(self, diff: DepthDiff, step: SyncStep) -> None:
        self.buffer.append(diff)
        if len(self.buffer) > self.max_buffer:
            self.buffer.popleft()
            step.dropped += 1
        if not self.snapshot_pending:
            self._ask_snapshot(step)

    def _ask_snapshot(self, step: SyncStep) -> None:
        self.snapshot_pending = True
        step.needs_snapshot = True
