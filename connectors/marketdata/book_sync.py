"""Binance's procedure for a correct local order book, as a per-symbol state machine (pure).

Binance documents it ("How to manage a local order book correctly") for spot, USD-M and COIN-M futures:

1. open the diff-depth stream and buffer its events;
2. fetch a REST depth snapshot (``lastUpdateId`` = L);
3. drop buffered events the snapshot already covers;
4. the first event applied must straddle the snapshot; if the first buffered event starts later, the
   snapshot is too old: fetch another;
5. then every event must continue the previous one; otherwise there is a gap: start again from step 2.

What "covers", "straddles" and "continues" mean per market is the venue's ``SequencingRule``
(``processors.orderbook.sequencing``): the same rule the order book core applies to what this machine
publishes, so the two never disagree on a stream.

The machine publishes the accepted snapshot, then exactly the chain of updates that continues it, so
md.depth always carries "snapshot, then contiguous updates". A gap, a reconnection or a resync request (a
consumer of md.depth that lost track, see ``BinanceFeed.on_feed_status``) makes the next accepted snapshot a
resynchronisation. Stale events (``u`` at or before the last applied id) are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

from connectors.marketdata.messages import BookSnapshot, DepthDiff
from processors.orderbook.sequencing import SequencingRule, Verdict

SyncState = Literal["BUFFERING", "LIVE"]
DEFAULT_MAX_BUFFER: Final = 10_000  # events buffered while a snapshot is fetched; older ones are dropped


@dataclass(slots=True)
class SyncStep:
    """What one input led to: what to publish, in order, and what the edge must do next."""

    publish: list[DepthDiff | BookSnapshot] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # detail of each gap detected
    resynced: str | None = None  # detail when a snapshot was accepted after a gap, reconnection or request
    needs_snapshot: bool = False  # the edge must fetch a snapshot for this symbol
    rejected_snapshot: str | None = None  # why a snapshot could not be used (too old)
    dropped: int = 0  # events dropped: covered by the snapshot, stale, or pushed out of a full buffer


class BookSync:
    """The sync state of one symbol's depth stream (see the module docstring)."""

    def __init__(self, rule: SequencingRule, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.rule = rule
        self.max_buffer = max_buffer
        self.state: SyncState = "BUFFERING"
        self.buffer: deque[DepthDiff] = deque()
        self.last_id: int | None = None  # the snapshot's L, then the u of each applied event
        self.bridged = False  # whether an event has been applied since the snapshot
        self.last_applied: DepthDiff | None = None  # the last event published
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
        while self.buffer and self.rule.covered(self.buffer[0].last_id, last):
            self.buffer.popleft()
            step.dropped += 1
        first = self.buffer[0] if self.buffer else None
        if first is not None and not self.rule.straddles(first.first_id, first.last_id, last):
            step.rejected_snapshot = (
                f"snapshot lastUpdateId={last} is older than the first buffered event "
                f"(U={first.first_id}); fetching another"
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
        self.state, self.bridged, self.last_id, self.last_applied = "BUFFERING", False, None, None
        self.buffer.clear()
        self.snapshot_pending = False
        self._resync_reason = reason

    def resync(self, reason: str) -> SyncStep:
        """A consumer of what this machine published lost track (``reason`` says who and why): publish a new
        snapshot and the chain from it. Only a live book resyncs; one already waiting for a snapshot will
        publish one anyway.

        The procedure starts again at step 2 with the last event applied still in the buffer: the snapshot
        may be taken right at its ``u``, and on futures the event that straddles such a snapshot is that one
        (the next starts past it), so without it a snapshot taken between two events could never be bridged.
        """
        step = SyncStep()
        if self.state == "LIVE":
            if self.bridged and self.last_applied is not None:
                self.buffer.append(self.last_applied)
            self.state, self.bridged = "BUFFERING", False
            self._resync_reason = reason
            self._ask_snapshot(step)
        return step

    # -- the rule ------------------------------------------------------------------------------------------
    def _live(self, diff: DepthDiff, step: SyncStep) -> None:
        last = self.last_id
        assert last is not None  # LIVE always has the snapshot's id or the last applied one
        verdict, detail = self.rule.check(
            diff.first_id, diff.last_id, diff.previous_last_id, last, bridged=self.bridged
        )
        if verdict is Verdict.APPLY:
            self._apply(diff, step)
        elif verdict is Verdict.IGNORE:
            step.dropped += 1  # covered by the snapshot, or stale: already applied
        else:
            self._gap(diff, detail, step)

    def _apply(self, diff: DepthDiff, step: SyncStep) -> None:
        self.last_id, self.bridged, self.last_applied = diff.last_id, True, diff
        step.publish.append(diff)

    def _gap(self, diff: DepthDiff, detail: str, step: SyncStep) -> None:
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
