"""A realistic synthetic market session, seeded (pure generation: the same config gives the same messages).

Per symbol: a mid that random-walks with GARCH(1,1) volatility clustering and moves with signed trade flow
(price impact), a book of ``levels`` price levels each side around it (deeper levels hold more), quantity
churn on random levels, and trades whose arrival rate rises with volatility; each trade hits the best
levels of the opposite side and walks the book when it is larger than the best level. Every ``step_ms`` the
book's changes since the previous step go out as one ``DepthDiff`` (venue ids advance by one per changed
level, and ``previous_last_id`` is set, so both the spot and the futures continuity rules hold); the session
starts with a ``BookSnapshot`` per symbol. Floats drive the randomness only: prices are whole ticks and
quantities whole lots, so every message is exact fixed-point.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from connectors.marketdata.messages import BookSnapshot, DepthDiff, Level, MarketMessage, TradePrint
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE

VENUE = "sim"
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class SymbolModel:
    symbol: str
    mid: int  # starting mid, fixed-point price
    tick: int  # price step between levels, fixed-point
    lot: int  # quantity step, fixed-point
    level_lots: float  # typical lots at the best level
    hourly_volatility: float  # target volatility of the mid over an hour (fraction)
    trades_per_second: float  # mean trade rate at the target volatility
    trade_lots: float  # mean trade size in lots
    first_update_id: int


MODELS = {
    "BTCUSDT": SymbolModel(
        "BTCUSDT", 60_000 * PRICE_SCALE, PRICE_SCALE // 2, QUANTITY_SCALE // 1000, 400.0, 0.0025, 1.6, 120.0, 41_000_000
    ),
    "ETHUSDT": SymbolModel(
        "ETHUSDT", 3_000 * PRICE_SCALE, PRICE_SCALE // 20, QUANTITY_SCALE // 100, 150.0, 0.003, 1.2, 40.0, 27_000_000
    ),
}


@dataclass(frozen=True)
class SessionConfig:
    seed: int = 7
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    seconds: int = 3600
    step_ms: int = 250
    levels: int = 20
    start_us: int = START_US


class _SymbolSession:
    GARCH_ALPHA = 0.06
    GARCH_BETA = 0.92

    def __init__(self, model: SymbolModel, config: SessionConfig, rng: random.Random) -> None:
        self.model, self.config, self.rng = model, config, rng
        steps_per_hour = 3_600_000 / config.step_ms
        mid_ticks = model.mid / model.tick
        self.target_var = (model.hourly_volatility * mid_ticks) ** 2 / steps_per_hour  # ticks² per step
        self.var = self.target_var
        self.center = float(model.mid // model.tick)  # mid in ticks
        self.impact = 0.15 / model.trade_lots  # ticks of mid move per lot of signed flow
        self.bids: dict[int, int] = {}  # tick → lots
        self.asks: dict[int, int] = {}
        self.last_id = model.first_update_id
        self.trade_id = 0
        self._reshape()

    def _depth_lots(self, distance: int) -> int:
        scale = self.model.level_lots * (1.0 + 0.12 * distance)
        return max(1, round(scale * self.rng.lognormvariate(0.0, 0.6)))

    def _window(self) -> tuple[int, int]:
        best_bid = math.floor(self.center - 0.5)
        spread = 1 if self.rng.random() < 0.85 else 2
        return best_bid, best_bid + spread

    def _reshape(self) -> None:
        """Keep exactly ``levels`` levels each side around the current mid: drop what left, add what is missing."""
        best_bid, best_ask = self._window()
        n = self.config.levels
        bid_ticks = range(best_bid - n + 1, best_bid + 1)
        ask_ticks = range(best_ask, best_ask + n)
        for side, ticks, best in ((self.bids, bid_ticks, best_bid), (self.asks, ask_ticks, best_ask)):
            for tick in [t for t in side if t not in ticks]:
                del side[tick]
            for tick in ticks:
                if tick not in side:
                    side[tick] = self._depth_lots(abs(tick - best))

    def _churn(self) -> None:
        for _ in range(self._poisson(2.5)):
            side = self.bids if self.rng.random() < 0.5 else self.asks
            tick = self.rng.choice(list(side))
            side[tick] = max(1, round(side[tick] * self.rng.uniform(0.5, 1.6)))

    def _poisson(self, mean: float) -> int:
        count, threshold, product = 0, math.exp(-mean), self.rng.random()
        while product > threshold:
            count += 1
            product *= self.rng.random()
        return count

    def _trades(self, start_us: int, step_us: int) -> list[TradePrint]:
        rate = self.model.trades_per_second * math.sqrt(self.var / self.target_var)
        count = self._poisson(rate * step_us / 1e6)
        prints: list[TradePrint] = []
        for index in range(count):
            time_us = start_us + (index + 1) * step_us // (count + 1)
            drift = max(-0.3, min(0.3, (self.center - math.floor(self.center) - 0.5)))
            buy = self.rng.random() < 0.5 + drift
            lots = max(1, round(self.rng.expovariate(1.0 / self.model.trade_lots)))
            side = self.asks if buy else self.bids
            for tick in sorted(side, reverse=not buy):
                if lots == 0 or len(side) == 1:
                    break
                taken = min(lots, side[tick])
                lots -= taken
                side[tick] -= taken
                if side[tick] == 0:
                    del side[tick]
                self.trade_id += 1
                prints.append(
                    TradePrint(
                        self.model.symbol,
                        str(self.trade_id),
                        tick * self.model.tick,
                        taken * self.model.lot,
                        "BUY" if buy else "SELL",
                        time_us,
                    )
                )
                self.center += self.impact * taken * (1 if buy else -1)
        return prints

    def _move_mid(self) -> None:
        shock = self.rng.gauss(0.0, math.sqrt(self.var))
        self.center += shock
        omega = (1.0 - self.GARCH_ALPHA - self.GARCH_BETA) * self.target_var
        self.var = omega + self.GARCH_ALPHA * shock * shock + self.GARCH_BETA * self.var

    def snapshot(self, time_us: int) -> BookSnapshot:
        return BookSnapshot(
            self.model.symbol, self.last_id, time_us, self._levels(self.bids, True), self._levels(self.asks, False)
        )

    def _levels(self, side: dict[int, int], descending: bool) -> tuple[Level, ...]:
        return tuple((t * self.model.tick, side[t] * self.model.lot) for t in sorted(side, reverse=descending))

    def step(self, start_us: int, step_us: int) -> list[MarketMessage]:
        before_bids, before_asks = dict(self.bids), dict(self.asks)
        messages: list[MarketMessage] = list(self._trades(start_us, step_us))
        self._move_mid()
        self._reshape()
        self._churn()
        bids = _changes(before_bids, self.bids, self.model, descending=True)
        asks = _changes(before_asks, self.asks, self.model, descending=False)
        if bids or asks:
            first, previous = self.last_id + 1, self.last_id
            self.last_id += len(bids) + len(asks)
            messages.append(DepthDiff(self.model.symbol, first, self.last_id, previous, start_us + step_us, bids, asks))
        return messages


def _changes(before: dict[int, int], after: dict[int, int], model: SymbolModel, descending: bool) -> tuple[Level, ...]:
    ticks = sorted(set(before) | set(after), reverse=descending)
    return tuple((t * model.tick, after.get(t, 0) * model.lot) for t in ticks if before.get(t) != after.get(t))


def _symbol_messages(model: SymbolModel, config: SessionConfig, seed: int) -> Iterator[MarketMessage]:
    session = _SymbolSession(model, config, random.Random(seed))
    yield session.snapshot(config.start_us)
    step_us = config.step_ms * 1000
    for index in range(config.seconds * 1000 // config.step_ms):
        yield from session.step(config.start_us + index * step_us, step_us)


def _keyed(messages: Iterator[MarketMessage], index: int) -> Iterator[tuple[int, int, int, MarketMessage]]:
    for order, message in enumerate(messages):
        yield message.time_us, index, order, message


def generate_session(config: SessionConfig) -> Iterator[MarketMessage]:
    """Every symbol's messages merged in event-time order (ties: the order of ``config.symbols``)."""
    unknown = [s for s in config.symbols if s not in MODELS]
    if unknown:
        raise ValueError(f"no model for {', '.join(unknown)}; known: {', '.join(MODELS)}")
    streams = [
        _keyed(_symbol_messages(MODELS[s], config, config.seed * 1000 + i), i) for i, s in enumerate(config.symbols)
    ]
    for _time, _index, _order, message in heapq.merge(*streams):
        yield message
