"""Reconnection delays: exponential backoff with jitter, seeded or injected so tests can predict them.

Kept by hand on purpose: retry libraries (tenacity, backoff) own the loop; the feed owns its own, needs a delay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before reconnection attempt n (from 0): ``min(cap, base * factor**n)`` scaled by a jitter factor
    drawn uniformly from ``[1 - jitter, 1]`` ("equal jitter" when jitter is 0.5), so many clients that lost
    the same server do not come back in lockstep. ``reset()`` after a connection that delivered data."""

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("backoff needs 0 < base <= cap, factor >= 1 and 0 <= jitter <= 1")

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return ceiling * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempt = 0
