"""The counts a feed reports as progress and in its summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class FeedStats:
    messages: int = 0  # frames received (WebSocket) or rows read (files)
    snapshots: int = 0  # DepthSnapshots published
    updates: int = 0  # DepthUpdates published
    trades: int = 0  # Trades published
    gaps: int = 0  # sequence gaps detected
    resyncs: int = 0  # snapshots accepted after a gap, a reconnection or a resync request
    resync_requests: int = 0  # resync requests from md.feed.status honoured (the order book lost track)
    reconnects: int = 0  # connections after the first
    stalls: int = 0  # connections given up because no message came in time
    dropped: int = 0  # depth events dropped as covered by a snapshot or stale
    dead_letters: int = 0  # malformed frames, rows or snapshots sent to ops.deadletters

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in asdict(self).items())
