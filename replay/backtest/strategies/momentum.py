"""Momentum: long after the price rose over a lookback, short after it fell, flat in between.

Parameters: symbol (BTCUSDT), size (0.01: the position it holds when in), lookback_s (30), threshold_bps (5),
interval_s (5: how often it decides). Every ``interval_s`` it compares the mid with the mid ``lookback_s``
earlier and sends a market order (IOC) for the difference between the target position and its own.
"""

from __future__ import annotations

from collections import deque

from replay.backtest.strategy import Strategy, quantity_of

SECOND_US = 1_000_000


class Momentum(Strategy):
    def on_start(self) -> None:
        params = self.ctx.params
        self.symbol = str(params.get("symbol", "BTCUSDT"))
        self.size = quantity_of(params.get("size", "0.01"))
        self.lookback = int(params.get("lookback_s", 30))
        self.threshold_bps = int(params.get("threshold_bps", 5))
        self.timer_interval_us = int(params.get("interval_s", 5)) * SECOND_US
        self.mids: deque[int] = deque(maxlen=self.lookback * SECOND_US // self.timer_interval_us + 1)

    def on_timer(self) -> None:
        book = self.ctx.books.get(self.symbol)
        mid = book.mid if book is not None else None
        if mid is None:
            return
        self.mids.append(mid)
        if len(self.mids) < (self.mids.maxlen or 0):
            return
        change_bps = (mid - self.mids[0]) * 10_000 / self.mids[0]
        target = self.size if change_bps > self.threshold_bps else -self.size if change_bps < -self.threshold_bps else 0
        if self.ctx.working(self.symbol):
            return  # the last order has not ended yet: decide again next time
        difference = target - self.ctx.position(self.symbol)
        if difference > 0:
            self.ctx.buy(self.symbol, difference)
        elif difference < 0:
            self.ctx.sell(self.symbol, -difference)
