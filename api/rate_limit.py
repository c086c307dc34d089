"""Per-caller token buckets (in process): ``rate`` tokens a second refill up to ``burst``; one per request."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Thread-safe; time comes in as an argument so the arithmetic is testable without a clock."""

    def __init__(self, rate_per_second: float, burst: int) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be positive and burst at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, subject: str, now: float) -> float:
        """0.0 when a request is allowed (and its token taken), else the seconds until one token is back."""
        with self._lock:
            bucket = self._buckets.get(subject)
            if bucket is None:
                bucket = self._buckets[subject] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + max(0.0, now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate
