"""The analytics of one symbol on the event-time schedule: rolling windows in, one record per boundary out.

Boundaries are the multiples ``B`` of ``interval_us``; the record for ``B`` describes the window ending at
``B``. Its inputs come from the two input streams separately, each by its own event time, so the numbers do
not depend on how the runtime interleaves ``md.depth`` and ``md.trades`` (a live run and a replay interleave
them differently):

- the book at ``B`` is the book as the depth stream crosses ``B`` (before the first depth event at or after
  ``B`` is applied): a ``BookSample``, None while the book is stale or a side is empty;
- the trades of the interval ``[B - interval, B)`` are those whose event time falls in it, accumulated
  (volume, signed volume, buy and sell counts, close) as they arrive.

``B`` is closed once both streams have passed it (an event at or after ``B`` in each), or once one stream is
``analytics_lateness_us`` past it (the other lags or is silent: a symbol without trades). A trade arriving
after its interval was closed counts in the next open interval; that happens only when the inputs drift
further apart than the lateness.

A run of quiet intervals (no trades, book unchanged) longer than ``max_gap_intervals`` (a halted market, a
replay across a weekend) is not published interval by interval: the windows restart and publishing resumes
with the next interval that has activity. PIN is refitted only when a PIN period closes; the estimate is
carried until the next one. The work per depth update is a comparison of its time with the next boundary.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass
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


@dataclass(slots=True)
class IntervalTrades:
    """The trades of one interval, as the windows need them (volumes fixed point)."""

    buy_volume: int = 0
    sell_volume: int = 0
    volume: int = 0
    close: int | None = None  # last trade price
    buys: int = 0
    sells: int = 0


SampleNow = Callable[[], BookSample | None]


def _sample_record(sample: BookSample | None) -> list[int] | None:
    return None if sample is None else list(astuple(sample))


def _sample_from(record: list[int] | None) -> BookSample | None:
    return None if record is None else BookSample(*record)


class SymbolAnalytics:
    """Rolling state and the schedule of one symbol's analytics (module docstring)."""

    def __init__(self, config: OrderBookConfig, symbol: str) -> None:
        self.config = config
        self.interval = config.interval_us
        self.next_close_us = NOT_STARTED  # the next boundary to close
        self.closed_any = False
        self.depth_time_us: int | None = None  # latest event time of each stream
        self.trade_time_us: int | None = None
        self.depth_next_boundary_us = NOT_STARTED  # first boundary after depth_time_us
        # The book at boundaries the depth stream crossed and that are not closed yet: contiguous
        # (first boundary, last boundary, sample) runs, ascending.
        self.segments: list[tuple[int, int, BookSample | None]] = []
        self.trades: dict[int, IntervalTrades] = {}  # interval end -> its trades, for open intervals
        self.last_trade_price: int | None = None  # the tick rule's memory (trade stream order)
        self.last_sign = 0
        self.last_sample: BookSample | None = None  # the book at the last closed boundary
        self.quiet_run = 0
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

    def _boundary_after(self, time_us: int) -> int:
        return (time_us // self.interval + 1) * self.interval

    def _start(self, time_us: int) -> None:
        """The schedule starts at the first boundary after the earliest event of either input, whichever the
        runtime happens to deliver first (nothing is closed before both inputs were seen, unless one is the
        lateness ahead)."""
        boundary = self._boundary_after(time_us)
        if self.next_close_us == NOT_STARTED or (not self.closed_any and boundary < self.next_close_us):
            self.next_close_us = boundary

    # -- inputs -----------------------------------------------------------------------------------------
    def before_depth(self, time_us: int, sample_now: SampleNow) -> None:
        """Called before a depth event is applied: the book as it stands is the book at every boundary the
        depth stream crosses with this event."""
        if time_us < self.depth_next_boundary_us:
            return  # the hot path: no boundary crossed
        self._start(time_us)
        if self.depth_time_us is not None:
            first = max(self.depth_next_boundary_us, self.next_close_us)
            last = time_us // self.interval * self.interval
            if first <= last:
                self.segments.append((first, last, sample_now()))
        self.depth_time_us = time_us
        self.depth_next_boundary_us = self._boundary_after(time_us)

    def after_depth(self, time_us: int) -> None:
        if self.depth_time_us is None or time_us > self.depth_time_us:
            self.depth_time_us = time_us

    def add_trade(self, time_us: int, price: int, quantity: int, aggressor: str | None) -> None:
        self._start(time_us)
        sign = trade_sign(aggressor, price, self.last_trade_price, self.last_sign)
        self.last_trade_price = price
        end = max(self._boundary_after(time_us), self.next_close_us)  # a late trade joins the open interval
        trades = self.trades.get(end)
        if trades is None:
            trades = self.trades[end] = IntervalTrades()
        trades.volume += quantity
        trades.close = price
        if sign > 0:
            self.last_sign = sign
            trades.buy_volume += quantity
            trades.buys += 1
        elif sign < 0:
            self.last_sign = sign
            trades.sell_volume += quantity
            trades.sells += 1
        if self.trade_time_us is None or time_us > self.trade_time_us:
            self.trade_time_us = time_us

    # -- the schedule -----------------------------------------------------------------------------------
    def closable_until(self) -> int | None:
        """The latest boundary that may be closed now (see the module docstring), None before any event."""
        depth, trade = self.depth_time_us, self.trade_time_us
        lateness = self.config.analytics_lateness_us
        if depth is None or trade is None:
            known = depth if trade is None else trade
            return None if known is None or lateness is None else known - lateness
        both = min(depth, trade)
        return both if lateness is None else max(both, max(depth, trade) - lateness)

    def due(self) -> bool:
        limit = self.closable_until()
        return limit is not None and self.next_close_us != NOT_STARTED and self.next_close_us <= limit

    def close_due(self, sample_now: SampleNow, *, end_of_input: bool = False) -> list[dict[str, Any]]:
        """The values of every boundary that can be closed now, oldest first (MarketAnalytics fields).

        ``end_of_input``: the input is finite and complete (a replay, a command reading topics to their end):
        every boundary either stream has passed is closed, nothing more can arrive for it."""
        limit = self.closable_until()
        if end_of_input:
            known = [time for time in (self.depth_time_us, self.trade_time_us) if time is not None]
            limit = max(known) if known else None
        closed: list[dict[str, Any]] = []
        if limit is None or self.next_close_us == NOT_STARTED:
            return closed
        while self.next_close_us <= limit:
            self.closed_any = True
            boundary = self.next_close_us
            sample = self._sample_at(boundary, sample_now)
            trades = self.trades.pop(boundary, None)
            self.quiet_run = self.quiet_run + 1 if trades is None and sample == self.last_sample else 0
            if self.quiet_run > self.config.max_gap_intervals:
                if self.quiet_run == self.config.max_gap_intervals + 1:
                    self._restart_windows()
                self.next_close_us = self._next_active_boundary(boundary, limit)
                continue
            closed.append(self._close(boundary, sample, trades))
            self.last_sample = sample
            self.next_close_us = boundary + self.interval
        self.segments = [segment for segment in self.segments if segment[1] >= self.next_close_us]
        return closed

    def _sample_at(self, boundary: int, sample_now: SampleNow) -> BookSample | None:
        segments = self.segments
        index = bisect_right(segments, boundary, key=lambda segment: segment[0]) - 1
        if index >= 0 and segments[index][1] >= boundary:
            return segments[index][2]
        if self.depth_time_us is None or boundary > self.depth_time_us:
            return sample_now()  # the depth stream has not reached the boundary: the book as it stands
        return None  # before the depth stream began

    def _next_active_boundary(self, boundary: int, limit: int) -> int:
        """The first boundary after a quiet one where something may have happened: trades, a change of book."""
        candidates = [end for end in self.trades if end > boundary]
        candidates += [first for first, _, _ in self.segments if first > boundary]
        if self.depth_time_us is not None and self.depth_time_us >= boundary:
            candidates.append(self._boundary_after(self.depth_time_us))  # the book as it stands takes over
        candidates.append(limit // self.interval * self.interval + self.interval)  # nothing closable before it
        return min(candidates)

    def _close(self, boundary_us: int, sample: BookSample | None, trades: IntervalTrades | None) -> dict[str, Any]:
        config = self.config
        trades = trades or IntervalTrades()
        values: dict[str, Any] = {
            "window_end_us": boundary_us,
            "spread": None,
            "mid": None,
            "microprice": None,
            "depth_imbalance": None,
        }
        current_mid: float | None = None
        if sample is not None:
            current_mid = mid(sample.bid_price, sample.ask_price)
            values["spread"] = spread(sample.bid_price, sample.ask_price)
            values["mid"] = current_mid
            values["microprice"] = microprice(
                sample.bid_price, sample.bid_quantity, sample.ask_price, sample.ask_quantity
            )
            values["depth_imbalance"] = depth_imbalance(sample.bid_depth, sample.ask_depth)

        self.mids.append(current_mid)
        values["realized_volatility"] = realized_volatility(list(self.mids))

        self.flows.append((trades.buy_volume, trades.sell_volume))
        values["trade_flow_imbalance"] = trade_flow_imbalance(
            sum(b for b, _ in self.flows), sum(s for _, s in self.flows)
        )

        if current_mid is not None and self.previous_mid is not None:
            signed_flow = (trades.buy_volume - trades.sell_volume) / QUANTITY_SCALE
            self.kyle.append((current_mid - self.previous_mid, signed_flow))
        self.previous_mid = current_mid
        fitted = kyle_lambda([dp for dp, _ in self.kyle], [q for _, q in self.kyle], config.kyle_min_observations)
        values["kyle_lambda"], values["kyle_lambda_t"] = fitted if fitted is not None else (None, None)

        if trades.close is not None:
            self.buckets.add_bar(trades.close, trades.volume)
        values["vpin"] = self.buckets.vpin()

        self.period_buys += trades.buys
        self.period_sells += trades.sells
        if boundary_us % config.pin_period_us == 0:
            self._close_pin_period()
        values["pin"] = self.pin
        return values

    def _close_pin_period(self) -> None:
        self.periods.append((self.period_buys, self.period_sells))
        self.period_buys = self.period_sells = 0
        if len(self.periods) < self.config.pin_min_periods:
            return
        estimate = fit_pin(
            [b for b, _ in self.periods],
            [s for _, s in self.periods],
            self.config.pin_starts,
            self.config.pin_max_iterations,
        )
        self.pin = None if estimate is None else estimate.pin

    def _restart_windows(self) -> None:
        """After a long quiet spell, returns, flow and price impact would span it: start them afresh."""
        self.mids.clear()
        self.flows.clear()
        self.kyle.clear()
        self.previous_mid = None

    # -- state ------------------------------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        return {
            "next_close_us": self.next_close_us,
            "closed_any": self.closed_any,
            "stream_times": [self.depth_time_us, self.trade_time_us, self.depth_next_boundary_us],
            "segments": [[first, last, _sample_record(sample)] for first, last, sample in self.segments],
            "trades": [[end, *astuple(trades)] for end, trades in sorted(self.trades.items())],
            "tick": [self.last_trade_price, self.last_sign],
            "last_sample": _sample_record(self.last_sample),
            "quiet_run": self.quiet_run,
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
        analytics.next_close_us = record["next_close_us"]
        analytics.closed_any = record["closed_any"]
        analytics.depth_time_us, analytics.trade_time_us, analytics.depth_next_boundary_us = record["stream_times"]
        analytics.segments = [(first, last, _sample_from(sample)) for first, last, sample in record["segments"]]
        analytics.trades = {end: IntervalTrades(*fields) for end, *fields in record["trades"]}
        analytics.last_trade_price, analytics.last_sign = record["tick"]
        analytics.last_sample = _sample_from(record["last_sample"])
        analytics.quiet_run = record["quiet_run"]
        analytics.mids.extend(record["mids"])
        analytics.flows.extend((b, s) for b, s in record["flows"])
        analytics.kyle.extend((dp, q) for dp, q in record["kyle"])
        analytics.previous_mid = record["previous_mid"]
        analytics.buckets.load(record["buckets"])
        analytics.period_buys, analytics.period_sells = record["period"]
        analytics.periods.extend((b, s) for b, s in record["periods"])
        analytics.pin = record["pin"]
        return analytics
