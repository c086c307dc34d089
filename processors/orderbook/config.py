"""Every parameter of the order book processor and its analytics, with its default, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from schemas.scales import QUANTITY_SCALE

SECOND_US = 1_000_000


def _no_overrides() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class OrderBookConfig:
    """Parameters of ``OrderBookCore``. Times are event-time microseconds; volumes are fixed-point quantities.

    Book
      publish_depth: levels per side in each published ``BookTop`` (the depth-N view). 10.

    Schedule: analytics are computed at every multiple of ``interval_us`` of event time (the boundaries
    ``B = k * interval_us``) from the book as the depth stream crosses ``B`` and the trades whose event time
    falls in the interval (``processors.orderbook.analytics.engine``): a replay gives the same numbers.
      interval_us: analytics interval, also the time bar of VPIN and the observation of Kyle's lambda. 1 s.
      analytics_lateness_us: a boundary is closed when both inputs (depth, trades) have passed it, or when
        one input is this far past it while the other lags or is silent. Records are exact (independent of
        how the runtime interleaves the two topics) while the inputs stay within it of each other; a
        full-speed replay may read one topic minutes of event time ahead of the other, hence the generous
        default. A symbol without trades gets its analytics this late; what waits is bounded by it. None:
        wait for both inputs however long. 3600 s.
      max_gap_intervals: after more quiet intervals in a row than this (no trades, book unchanged: a halted
        market, a replay across a weekend) the rolling windows restart and the quiet run is not published
        interval by interval. 3600.

    Analytics (each module documents its formula)
      imbalance_levels: N of the depth imbalance over the top N levels per side. 10.
      vol_window: log mid returns (one per interval) in the realized volatility. 60.
      flow_intervals: intervals of trades in the trade-flow imbalance. 60.
      kyle_window: intervals (price change, signed flow) in the Kyle's lambda regression. 60.
      kyle_min_observations: fewer intervals than this give no lambda. 10.
      vpin_bucket_volume: volume of one VPIN bucket (quantity scale) unless overridden per symbol. 10 units.
      vpin_bucket_volume_by_symbol: per-symbol bucket volumes. none.
      vpin_buckets: n, the buckets VPIN averages over; no VPIN until n buckets are full. 50.
      vpin_sigma_bars: bars whose price changes give the sigma of bulk volume classification. 50.
      pin_period_us: the period buys and sells are counted over for PIN; a multiple of interval_us. 60 s.
      pin_periods: most recent periods the PIN model is fitted on. 60.
      pin_min_periods: fewer closed periods than this give no PIN. 20.
      pin_starts: Nelder-Mead runs, from the best points of a deterministic grid of starts. 3.
      pin_max_iterations: Nelder-Mead iterations per start. 600.
    """

    publish_depth: int = 10
    interval_us: int = SECOND_US
    analytics_lateness_us: int | None = 3600 * SECOND_US
    max_gap_intervals: int = 3600
    imbalance_levels: int = 10
    vol_window: int = 60
    flow_intervals: int = 60
    kyle_window: int = 60
    kyle_min_observations: int = 10
    vpin_bucket_volume: int = 10 * QUANTITY_SCALE
    vpin_bucket_volume_by_symbol: Mapping[str, int] = field(default_factory=_no_overrides)
    vpin_buckets: int = 50
    vpin_sigma_bars: int = 50
    pin_period_us: int = 60 * SECOND_US
    pin_periods: int = 60

    @property
    def vol_window_us(self) -> int:
        """The span of the realized volatility's window (``vol_window`` intervals)."""
        return self.vol_window * self.interval_us

    pin_min_periods: int = 20
    pin_starts: int = 3
    pin_max_iterations: int = 600

    def __post_init__(self) -> None:
        positive = (
            "publish_depth",
            "interval_us",
            "max_gap_intervals",
            "imbalance_levels",
            "vol_window",
            "flow_intervals",
            "kyle_window",
            "vpin_bucket_volume",
            "vpin_buckets",
            "vpin_sigma_bars",
            "pin_period_us",
            "pin_periods",
            "pin_min_periods",
            "pin_starts",
            "pin_max_iterations",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.analytics_lateness_us is not None and self.analytics_lateness_us < 0:
            raise ValueError(f"analytics_lateness_us must not be negative, not {self.analytics_lateness_us}")
        if self.pin_period_us % self.interval_us:
            raise ValueError(f"pin_period_us ({self.pin_period_us}) must be a multiple of interval_us")
        if self.kyle_min_observations < 3:
            raise ValueError("kyle_min_observations must be at least 3 (a regression with a t-statistic)")

    def bucket_volume(self, symbol: str) -> int:
        return self.vpin_bucket_volume_by_symbol.get(symbol, self.vpin_bucket_volume)


DEFAULT_CONFIG = OrderBookConfig()
