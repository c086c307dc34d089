"""The analytics of one symbol on the event-time schedule: rolling windows in, one record per boundary out.

Within an interval the engine only accumulates trades (volume, signed volume, buy and sell counts, close
price). At each boundary ``B`` (a multiple of ``interval_us``) it takes the book as it stands (a
``BookSample``, None while the book is stale) and computes every measure of ``MarketAnalytics`` for the
window ending at ``B``; the work per depth update is one comparison of its time with the next boundary.
PIN is refitted only when a PIN period closes; the last estimate is carried until the next one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from processors.orderbook.analytics.depth_imbalance import depth_imbalance
from processors.orderbook.analytics.kyle import kyle_lambda
from processors.orderbook.analytics.microprice import microprice
from processors.orderbook.analytics.pin import fit_pin
from processors.orderbook.analytics.realized_vol import realized_volatility
from processors.orderbook.analytics.spread_mid import mid, spread
from processors.orderbook.analytics.trade_flow import trade_flow_imbalance, trade_sign
from processors.orderbook.analytics.vpin import VolumeBuckets
from processors.orderbook.config import OrderBookConfig
from schemas.scales import QUANTITY_SCALE

NOT_STARTED = -1


@dataclass(frozen=True, slots=True)
class BookSample:
    """The book at a boundary: the touch and the depth of the top ``imbalance_levels`` levels (fixed point)."""

    bid_price: int
    bid_quantity: int
    ask_price: int
    ask_quantity: int
    bid_depth: int
    ask_depth: int


class SymbolAnalytics:
    """Rolling state and the schedule of one symbol's analytics (module docstring)."""

    def __init__(self, config: OrderBookConfig, symbol: str) -> None:
        self.config = config
        self.next_boundary_us = NOT_STARTED
        # The open interval.
        self.buy_volume = 0
        self.sell_volume = 0
        self.volume = 0
        self.close: int | None = None
        # The trade sign of the tick rule carries across intervals.
        self.last_trade_price: int | None = None
        self.last_sign = 0
        # Windows.
        self.mids: deque[float | None] = deque(maxlen=config.vol_window + 1)
        self.flows: deque[tuple[int, int]] = deque(maxlen=config.flow_intervals)
        self.kyle: deque[tuple[float, float]] = deque(maxlen=config.kyle_window)
        self.previous_mid: float | None = None
        self.buckets = VolumeBuckets(config.bucket_volume(symbol), config.vpin_buckets, config.vpin_sigma_bars)
        self.period_buys = 0
        self.period_sells = 0
        self.periods: deque[tuple[int, int]] = deque(maxlen=config.pin_periods)
        self.pin: float | None = None

    def add_trade(self, price: int, quantity: int, aggressor: str | None) -> None:
        sign = trade_sign(aggressor, price, self.last_trade_price, self.last_sign)
        self.last_trade_price = price
        self.volume += quantity
        self.close = price
        if sign > 0:
            self.last_sign = sign
            self.buy_volume += quantity
            self.period_buys += 1
        elif sign < 0:
            self.last_sign = sign
            self.sell_volume += quantity
            self.period_sells += 1

    def close_intervals(self, now_us: int, sample: BookSample | None) -> list[dict[str, Any]]:
        """The values of every boundary in (last closed, now_us], oldest first (MarketAnalytics fields)."""
        interval = self.config.interval_us
        if self.next_boundary_us == NOT_STARTED:
            self.next_boundary_us = (now_us // interval + 1) * interval
            return []
        if now_us < self.next_boundary_us:
            return []
        passed = (now_us - self.next_boundary_us) // interval + 1
        closed = [self._close(self.next_boundary_us, sample)]
        if passed > self.config.max_gap_intervals:
            self._restart_windows()
            self.next_boundary_us = (now_us // interval + 1) * interval
            return closed
        for _ in range(passed - 1):
            self.next_boundary_us += interval
            closed.append(self._close(self.next_boundary_us, sample))
        self.next_boundary_us += interval
        return closed

    def _close(self, boundary_us: int, sample: BookSample | None) -> dict[str, Any]:
        config = self.config
        values: dict[str, Any] = {"window_end_us": boundary_us, "spread": None, "mid": None, "microprice": None,
                                  "depth_imbalance": None}  # fmt: skip
        current_mid: float | None = None
        if sample is not None:
            current_mid = mid(sample.bid_price, sample.ask_price)
            values["spread"] = spread(sample.bid_price, sample.ask_price)
            values["mid"] = current_mid
            values["microprice"] = microprice(sample.bid_price, sample.bid_quantity, sample.ask_price,
                                              sample.ask_quantity)  # fmt: skip
            values["depth_imbalance"] = depth_imbalance(sample.bid_depth, sample.ask_depth)

        self.mids.append(current_mid)
        values["realized_volatility"] = realized_volatility(list(self.mids))

        self.flows.append((self.buy_volume, self.sell_volume))
        values["trade_flow_imbalance"] = trade_flow_imbalance(sum(b for b, _ in self.flows),
                                                              sum(s for _, s in self.flows))  # fmt: skip

        if current_mid is not None and self.previous_mid is not None:
            self.kyle.append((current_mid - self.previous_mid, (self.buy_volume - self.sell_volume) / QUANTITY_SCALE))
        self.previous_mid = current_mid
        fitted = kyle_lambda([dp for dp, _ in self.kyle], [q for _, q in self.kyle], config.kyle_min_observations)
        values["kyle_lambda"], values["kyle_lambda_t"] = fitted if fitted is not None else (None, None)

        if self.close is not None:
            self.buckets.add_bar(self.close, self.volume)
        values["vpin"] = self.buckets.vpin()

        if boundary_us % config.pin_period_us == 0:
            self._close_pin_period()
        values["pin"] = self.pin

        self.buy_volume = self.sell_volume = self.volume = 0
        self.close = None
        return values

    def _close_pin_period(self) -> None:
        self.periods.append((self.period_buys, self.period_sells))
        self.period_buys = self.period_sells = 0
        if len(self.periods) < self.config.pin_min_periods:
            return
        estimate = fit_pin([b for b, _ in self.periods], [s for _, s in self.periods],
                           self.config.pin_starts, self.config.pin_max_iterations)  # fmt: skip
        self.pin = None if estimate is None else estimate.pin

    def _restart_windows(self) -> None:
        """After a long event-time gap, returns, flow and price impact would span it: start them afresh."""
        self.mids.clear()
        self.flows.clear()
        self.kyle.clear()
        self.previous_mid = None

    # -- state ------------------------------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        return {
            "next_boundary_us": self.next_boundary_us,
            "interval": [self.buy_volume, self.sell_volume, self.volume, self.close],
            "tick": [self.last_trade_price, self.last_sign],
            "mids": list(self.mids),
            "flows": [list(flow) for flow in self.flows],
            "kyle": [list(point) for point in self.kyle],
            "previous_mid": self.previous_mid,
            "buckets": self.buckets.to_record(),
            "period": [self.period_buys, self.period_sells],
            "periods": [list(period) for period in self.periods],
            "pin": self.pin,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], config: OrderBookConfig, symbol: str) -> SymbolAnalytics:
        analytics = cls(config, symbol)
        analytics.next_boundary_us = record["next_boundary_us"]
        analytics.buy_volume, analytics.sell_volume, analytics.volume, analytics.close = record["interval"]
        analytics.last_trade_price, analytics.last_sign = record["tick"]
        analytics.mids.extend(record["mids"])
        analytics.flows.extend((b, s) for b, s in record["flows"])
        analytics.kyle.extend((dp, q) for dp, q in record["kyle"])
        analytics.previous_mid = record["previous_mid"]
        analytics.buckets.load(record["buckets"])
        analytics.period_buys, analytics.period_sells = record["period"]
        analytics.periods.extend((b, s) for b, s in record["periods"])
        analytics.pin = record["pin"]
        return analytics
