"""The backtest: recorded market data and one strategy through the order path's cores in the memory engine.

The cores are the order path's stage (``processors.runtime.pipeline.STAGES["orderpath"]``, so a core added to
the stage takes part) and the market data stages (the order book, whose top of book the strategy reads), in
one ``MemoryEngine``: the same cores, the same in-process hand-offs as a live ``single`` worker.

The clock is simulated: it is the event time of the market data, played in order. A strategy sees a market
event (a trade, a top of book) ``latency.market_data_us`` after it happened; what it sends is stamped with the
time it decided, and the venue handles it ``latency.order_us`` later (``VenueConfig.latency_us``: matched
against the books as they are then). Order events of the strategy's account come back to it as the OMS emits
them. Market data before ``start_us`` warms the books up; the strategy starts at the first event from then.

Nothing here reads a clock or draws a random number: the same data, strategy and configuration give the same
orders, fills and positions, byte for byte.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from processors.core import Core, Emit, Event, Record
from processors.orderbook.config import DEFAULT_CONFIG as DEFAULT_ORDERBOOK_CONFIG
from processors.orderbook.config import OrderBookConfig
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import MARKET_DATA_STAGES, STAGES
from processors.runtime.registry import core_class
from processors.venue.config import VenueConfig
from processors.venue.matching import Fees
from replay.backtest.strategy import StrategyRunner, book_of, strategy_class
from schemas.names import BOOK_TOP, ORDER_EVENT, POSITION, TRADE
from schemas.scales import CASH_SCALE, Price, Quantity, notional
from topics.catalogue import ORDERS_COMMANDS

SECOND_US: Final = 1_000_000
ORDER_PATH_STAGE: Final = "orderpath"
ANALYTICS_OFF_US: Final = 10**15  # about 31 years of event time


@dataclass(frozen=True)
class LatencyModel:
    """Fixed delays in event time (microseconds)."""

    market_data_us: int = 0  # a market event → the strategy sees it
    order_us: int = 0  # a command → the venue handles it

    def __post_init__(self) -> None:
        if self.market_data_us < 0 or self.order_us < 0:
            raise ValueError(f"latencies must not be negative: {self}")


@dataclass(frozen=True)
class BacktestConfig:
    strategy: str  # a name of replay.backtest.strategy.STRATEGIES or module:Class
    params: Mapping[str, Any] = field(default_factory=dict)
    account: str = "BT-001"
    initial_cash: int = 100_000 * CASH_SCALE
    latency: LatencyModel = LatencyModel()
    fees: Fees | None = None  # the venue's default fees when None
    start_us: int | None = None
    end_us: int | None = None
    sample_interval_us: int = SECOND_US  # the equity curve's and the positions' sampling interval
    analytics: bool = False  # the order book's scheduled analytics (md.analytics); no strategy callback reads them

    def __post_init__(self) -> None:
        if self.sample_interval_us <= 0:
            raise ValueError("the sampling interval must be positive")
        if self.start_us is not None and self.end_us is not None and self.end_us < self.start_us:
            raise ValueError("the end is before the start")

    def orderbook_config(self) -> OrderBookConfig:
        if self.analytics:
            return DEFAULT_ORDERBOOK_CONFIG
        # Off: the first analytics boundary (and PIN period) lies beyond any recording.
        return replace(DEFAULT_ORDERBOOK_CONFIG, interval_us=ANALYTICS_OFF_US, pin_period_us=ANALYTICS_OFF_US)

    def venue_config(self) -> VenueConfig:
        base = VenueConfig(latency_us=self.latency.order_us)
        return base if self.fees is None else replace(base, default_fees=self.fees)


def backtest_core_names() -> tuple[str, ...]:
    """The cores a backtest runs: the order path's stage and the market data stages, in stage order."""
    names = [*STAGES[ORDER_PATH_STAGE].cores]
    for stage in MARKET_DATA_STAGES:
        names += [name for name in STAGES[stage].cores if name not in names]
    return tuple(names)


def core_factories(config: BacktestConfig) -> list[Callable[[], Core]]:
    configured: dict[str, Callable[[], Core]] = {
        "venue": lambda: core_class("venue")(config.venue_config()),  # type: ignore[call-arg]
        "orderbook": lambda: core_class("orderbook")(config.orderbook_config()),  # type: ignore[call-arg]
    }
    return [configured.get(name, core_class(name)) for name in backtest_core_names()]


@dataclass
class BacktestRun:
    """Everything a backtest produced (fixed-point values, as the topics hold them)."""

    config: BacktestConfig
    order_events: list[Record] = field(default_factory=list)  # the account's orders.events
    commands: list[Record] = field(default_factory=list)  # what the strategy sent
    position_updates: list[Record] = field(default_factory=list)  # the account's portfolio.positions
    samples: list[Record] = field(default_factory=list)  # per interval: time, equity
    position_samples: list[Record] = field(default_factory=list)  # per interval and symbol
    market_events: int = 0
    first_time_us: int | None = None
    last_time_us: int | None = None


class Engine(Protocol):
    """What runs the cores: the memory engine, or the workers through Kafka (replay/backtest/via_kafka.py)."""

    def send(self, event: Event) -> list[Emit]: ...


class Backtest:
    """One backtest run, fed market events one at a time (``feed``) and closed with ``finish``."""

    def __init__(self, config: BacktestConfig, engine: Engine | None = None) -> None:
        self.config = config
        # The run keeps what it reads as it goes (``_take_outputs``): the engine holds no copy of every output.
        self.engine: Engine = engine or MemoryEngine(core_factories(config), name="backtest", keep_outputs=False)
        strategy = strategy_class(config.strategy)()
        self.runner = StrategyRunner(
            strategy, name=config.strategy.rpartition(":")[2], account=config.account, params=config.params
        )
        self.run = BacktestRun(config)
        self._delayed: deque[tuple[int, Event]] = deque()  # market events on their way to the strategy
        self._positions: dict[str, Record] = {}  # symbol → the latest Position of the account
        self._marks: dict[str, int] = {}  # symbol → mid, else last trade
        self._book_symbols: set[str] = set()  # symbols marked by their book's mid
        self._next_sample_us: int | None = None
        self._account = config.account

    # -- feeding ------------------------------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        """One market event, at its event time."""
        now = event.record["meta"]["event_time_us"]
        config, run = self.config, self.run
        if config.end_us is not None and now > config.end_us:
            return
        if run.first_time_us is None:
            run.first_time_us = now
        run.last_time_us = now
        run.market_events += 1
        self._sample_until(now)
        started = self.runner.started
        if not started and (config.start_us is None or now >= config.start_us):
            self._send_commands(self.runner.start(now), now)
            self._next_sample_us = now
            self._sample_until(now)
            started = True
        self._deliver_due(now)
        if started:  # timers due up to now fire before the event: they must not see it
            self._send_commands(self.runner.advance(now), now)
        emits = self.engine.send(event)
        self._take_books(emits, started)
        if started:
            self._show(event, emits, now)

    def _take_books(self, emits: list[Emit], started: bool) -> None:
        """Marks from every top of book; while warming up, the strategy's books too (without callbacks)."""
        for emit in emits:
            if emit.schema == BOOK_TOP:
                self._mark_book(emit.record)
                if not started and not emit.record["stale"]:
                    self.runner.ctx.books[emit.record["symbol"]] = book_of(emit.record)

    def _show(self, event: Event, emits: list[Emit], now: int) -> None:
        """The strategy sees the market event and what it caused, after the market data latency."""
        if event.schema == TRADE and event.record["symbol"] not in self._book_symbols:
            self._marks[event.record["symbol"]] = event.record["price"]
        lag = self.config.latency.market_data_us
        if lag == 0:
            if event.schema == TRADE:
                self._send_commands(self.runner.on_event(event, now), now)
            self._take_outputs(emits, now)
            return
        if event.schema == TRADE:
            self._delayed.append((now + lag, event))
        for emit in emits:
            if emit.schema == BOOK_TOP:
                self._delayed.append((now + lag, _as_event(emit, now + lag)))
        self._take_outputs([emit for emit in emits if emit.schema != BOOK_TOP], now)

    def feed_all(
        self, events: Iterable[Event], on_progress: Callable[[int], None] | None = None, every: int = 5_000
    ) -> BacktestRun:
        for count, event in enumerate(events, 1):
            self.feed(event)
            if on_progress is not None and count % every == 0:
                on_progress(count)
        return self.finish()

    def finish(self) -> BacktestRun:
        """Deliver what is still on its way, take the last sample and hand the run over."""
        run = self.run
        if run.last_time_us is not None:
            end = run.last_time_us + self.config.latency.market_data_us
            self._deliver_due(end)
            self._sample_until(end)
            if not run.samples or run.samples[-1]["time_us"] != end:
                self._sample(end)
        return run

    # -- the strategy's side ------------------------------------------------------------------------------
    def _deliver_due(self, now: int) -> None:
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            seen_at, event = delayed.popleft()
            self._send_commands(self.runner.on_event(event, seen_at), seen_at)

    def _take_outputs(self, emits: list[Emit], now: int) -> None:
        """Hand the strategy its book tops and its account's order events; keep the account's records."""
        account, run, runner = self._account, self.run, self.runner
        for emit in emits:
            schema = emit.schema
            if schema == BOOK_TOP:
                self._send_commands(runner.on_event(_as_event(emit, now), now), now)
            elif schema == ORDER_EVENT and emit.key == account:
                run.order_events.append(emit.record)
                self._send_commands(runner.on_event(_as_event(emit, now), now), now)
            elif schema == POSITION and emit.record["account"] == account:
                run.position_updates.append(emit.record)
                self._positions[emit.record["symbol"]] = emit.record

    def _send_commands(self, commands: list[Emit], now: int) -> None:
        engine, run = self.engine, self.run
        for command in commands:
            run.commands.append(command.record)
            emits = engine.send(Event(ORDERS_COMMANDS, command.key, command.schema, command.record, now))
            self._take_outputs([e for e in emits if e.schema != BOOK_TOP], now)

    # -- marks and samples --------------------------------------------------------------------------------
    def _mark_book(self, record: Mapping[str, Any]) -> None:
        bid, ask = record["bid_price"], record["ask_price"]
        if bid is not None and ask is not None and not record["stale"]:
            self._marks[record["symbol"]] = (bid + ask) // 2
            self._book_symbols.add(record["symbol"])

    def _sample_until(self, now: int) -> None:
        interval = self.config.sample_interval_us
        while self._next_sample_us is not None and self._next_sample_us < now:
            self._sample(self._next_sample_us)
            self._next_sample_us += interval

    def _sample(self, time_us: int) -> None:
        equity = self.config.initial_cash
        for symbol in sorted(self._marks):
            mark = self._marks[symbol]
            position = self._positions.get(symbol)
            quantity = position["quantity"] if position is not None else 0
            value = (
                notional(Price(mark), Quantity(quantity))
                if quantity >= 0
                else -notional(Price(mark), Quantity(-quantity))
            )
            cash = position["cash"] if position is not None else 0
            equity += cash + value
            self.run.position_samples.append(
                {
                    "time_us": time_us,
                    "symbol": symbol,
                    "quantity": quantity,
                    "mark_price": mark,
                    "value": value,
                    "realized_pnl": position["realized_pnl"] if position is not None else 0,
                    "fees": position["fees"] if position is not None else 0,
                }
            )
        self.run.samples.append({"time_us": time_us, "equity": equity})


def _as_event(emit: Emit, now: int) -> Event:
    return Event(emit.topic, emit.key, emit.schema, emit.record, now)


def run_backtest(
    config: BacktestConfig, events: Iterable[Event], on_progress: Callable[[int], None] | None = None
) -> BacktestRun:
    return Backtest(config).feed_all(events, on_progress)
