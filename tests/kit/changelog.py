"""A core's changelog as the runtime keeps it, for restore tests: compacted, JSON-encoded, read back unordered.

The kafka engine writes ``state_changes()`` after each transaction and, on restore, hands the core the last
value of every key (tombstones removed) with the keys in no particular order; the memory and faust engines do
the same. ``Changelog`` keeps exactly that, and ``restore_into`` replays it into a fresh core in a given order.
"""

from __future__ import annotations

import random
from typing import Any

from processors.core import Core
from processors.runtime.state_codec import decode_state, encode_state


class Changelog:
    """The last state of each key written so far, as encoded and decoded on the way through Kafka."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.written_bytes: list[int] = []  # per take(): the bytes of its records (tombstones count 0)

    def take(self, core: Core) -> dict[str, dict[str, Any] | None]:
        """Write the core's state changes, as one transaction does; what they were, read back."""
        written: dict[str, dict[str, Any] | None] = {}
        size = 0
        for key, state in core.state_changes().items():
            encoded = encode_state(state)
            if encoded is None:
                self.latest.pop(key, None)
                written[key] = None
            else:
                size += len(encoded)
                written[key] = self.latest[key] = decode_state(encoded)
        self.written_bytes.append(size)
        return written

    def restore_into(self, core: Core, shuffle: random.Random | None = None) -> None:
        """Restore every key into ``core``: in key order, or shuffled by ``shuffle`` (the runtime's is arbitrary)."""
        records = sorted(self.latest.items())
        if shuffle is not None:
            shuffle.shuffle(records)
        for key, state in records:
            core.restore(key, decode_state(encode_state(state) or b"{}"))  # a copy of its own, as read from Kafka
