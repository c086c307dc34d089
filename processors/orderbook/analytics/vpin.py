"""VPIN: volume-synchronized probability of informed trading (Easley, López de Prado and O'Hara, 2012),
with bulk volume classification (BVC).

Time bars (one per analytics interval) with traded volume V_t and close price P_t (last trade price):

    dP_t     = P_t - P_{t-1}                       close-to-close change between bars with volume
    sigma    = sample std. dev. (ddof = 1) of dP over the last ``sigma_bars`` bars, this one included
    V_t^buy  = V_t * Z(dP_t / sigma),  V_t^sell = V_t - V_t^buy,   Z the standard normal CDF (via math.erf)

Bar volume is poured, in time order, into buckets of equal volume V (``bucket_volume``); a bar that straddles
a bucket boundary splits with the same buy fraction. For each full bucket tau the order imbalance is
|V_tau^buy - V_tau^sell|, and over the last n full buckets (``buckets``)

    VPIN = sum_tau |V_tau^buy - V_tau^sell| / (n * V),   in [0, 1].

Conventions: bars without volume are skipped (no change, no volume); the first bar with volume only sets the
reference close (it has no price change to classify); while sigma is undefined (fewer than two changes) or
zero the buy fraction is 1/2. VPIN is None until n buckets are full.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from schemas.scales import PRICE_SCALE


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def sample_std(values: Iterable[float]) -> float:
    data = list(values)
    n = len(data)
    if n < 2:
        return 0.0
    mean = sum(data) / n
    return math.sqrt(sum((x - mean) ** 2 for x in data) / (n - 1))


def buy_fraction(price_change: float, sigma: float) -> float:
    """Bulk volume classification: the share of a bar's volume classified as buyer-initiated."""
    if sigma <= 0.0:
        return 0.5
    return normal_cdf(price_change / sigma)


class VolumeBuckets:
    """Bars in, equal-volume buckets out; volumes are fixed-point quantities (the ratio is scale-free)."""

    def __init__(self, bucket_volume: int, buckets: int, sigma_bars: int) -> None:
        self.bucket_volume = bucket_volume
        self.buckets = buckets
        self.last_close: int | None = None
        self.changes: deque[float] = deque(maxlen=sigma_bars)  # dP of recent bars, price units
        self.filled = 0  # volume in the bucket being filled
        self.filled_buy = 0.0  # its buy volume
        self.imbalances: deque[float] = deque(maxlen=buckets)  # |V_buy - V_sell| of full buckets

    def add_bar(self, close_price: int, volume: int) -> None:
        if volume <= 0:
            return
        previous, self.last_close = self.last_close, close_price
        if previous is None:
            return
        change = (close_price - previous) / PRICE_SCALE
        self.changes.append(change)
        fraction = buy_fraction(change, sample_std(self.changes))
        remaining = volume
        while remaining > 0:
            take = min(self.bucket_volume - self.filled, remaining)
            self.filled += take
            self.filled_buy += take * fraction
            remaining -= take
            if self.filled == self.bucket_volume:
                self.imbalances.append(abs(2.0 * self.filled_buy - self.bucket_volume))
                self.filled, self.filled_buy = 0, 0.0

    def vpin(self) -> float | None:
        if len(self.imbalances) < self.buckets:
            return None
        return sum(self.imbalances) / (self.buckets * self.bucket_volume)

    def to_record(self) -> dict[str, Any]:
        return {
            "last_close": self.last_close,
            "changes": list(self.changes),
            "filled": self.filled,
            "filled_buy": self.filled_buy,
            "imbalances": list(self.imbalances),
        }

    def load(self, record: Mapping[str, Any]) -> None:
        self.last_close = record["last_close"]
        self.changes.extend(record["changes"])
        self.filled = record["filled"]
        self.filled_buy = record["filled_buy"]
        self.imbalances.extend(record["imbalances"])
