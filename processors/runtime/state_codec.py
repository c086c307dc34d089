"""How a core's state travels: compact JSON, the same in the changelog, the snapshots and the memory engine."""

from __future__ import annotations

import json
from typing import Any

from processors.core import Record


def encode_state(state: Record | None) -> bytes | None:
    return None if state is None else json.dumps(state, separators=(",", ":")).encode()


def decode_state(value: bytes) -> Record:
    state: dict[str, Any] = json.loads(value)
    return state
