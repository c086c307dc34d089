"""The strategy API: a strategy reacts to books, trades, fills and timers and sends the same order commands as
any upstream system (NewOrder, CancelOrder, AmendOrder on ``orders.commands``).

A strategy subclasses ``Strategy`` and overrides the callbacks it needs; ``self.ctx`` (a ``StrategyContext``)
gives it the time, its parameters, the latest book per symbol, its positions and working orders, and the
order methods. ``StrategyRunner`` hosts one strategy as a pure function of events (no clock, no I/O, no
random ids): the backtest and ``sq strategy run`` feed it the same events and produce the commands it returns,
so a strategy behaves the same in both. Command ids derive from the event that caused them, client order ids
from a per-strategy sequence, so a rerun sends byte-identical commands.

Prices and quantities are fixed-point integers (``schemas.scales``); ``price_of`` and ``quantity_of`` turn
a decimal string (a parameter) into one.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from processors.core import Emit, Event, Record, derived_event_id, order_id_for
from processors.orderbook.analytics.microprice import microprice
from schemas.names import AMEND_ORDER, BOOK_TOP, CANCEL_ORDER, NEW_ORDER, ORDER_EVENT, TRADE
from schemas.scales import PRICE_DECIMALS, PRICE_SCALE, QUANTITY_DECIMALS, to_fixed
from schemas.statuses import TERMINAL_STATUSES
from topics.catalogue import MD_BOOK_TOP, MD_TRADES, ORDERS_COMMANDS, ORDERS_EVENTS

# The strategies `--strategy NAME` knows; any other is given as module:Class.
STRATEGIES: Final = {
    "market_maker": "replay.backtest.strategies.market_maker:MarketMaker",
    "momentum": "replay.backtest.strategies.momentum:Momentum",
}
# What a strategy reads: top of book, trades and its own account's order events.
STRATEGY_INPUTS: Final = (MD_BOOK_TOP, MD_TRADES, ORDERS_EVENTS)


def price_of(value: str | int) -> int:
    return to_fixed(str(value), PRICE_DECIMALS)


def quantity_of(value: str | int) -> int:
    return to_fixed(str(value), QUANTITY_DECIMALS)


@dataclass(frozen=True, slots=True)
class Book:
    """Top of book of one symbol (fixed-point; a side is None when empty)."""

    symbol: str
    time_us: int
    bid_price: int | None
    bid_quantity: int | None
    ask_price: int | None
    ask_quantity: int | None

    @property
    def mid(self) -> int | None:
        if self.bid_price is None or self.ask_price is None:
            return None
        return (self.bid_price + self.ask_price) // 2

    @property
    def microprice(self) -> int | None:
        """The microprice (``processors.orderbook.analytics.microprice``) in fixed point, or None one-sided."""
        if self.bid_price is None or self.ask_price is None or not self.bid_quantity or not self.ask_quantity:
            return None
        return round(microprice(self.bid_price, self.bid_quantity, self.ask_price, self.ask_quantity) * PRICE_SCALE)


def book_of(record: Mapping[str, Any]) -> Book:
    """The top of book of a ``BookTop`` record."""
    return Book(
        record["symbol"],
        record["meta"]["event_time_us"],
        record["bid_price"],
        record["bid_quantity"],
        record["ask_price"],
        record["ask_quantity"],
    )


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    time_us: int
    price: int
    quantity: int
    aggressor: str | None


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: str
    symbol: str
    side: str
    quantity: int
    price: int
    fee: int
    liquidity: str | None
    time_us: int


@dataclass(slots=True)
class WorkingOrder:
    """One of the strategy's orders that has not ended, as the OMS last described it."""

    order_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: int
    price: int | None
    leaves: int
    status: str = "PENDING_NEW"
    cancel_sent: bool = False


@dataclass
class StrategyContext:
    """What a strategy sees and does: read the state, call the order methods."""

    name: str
    account: str
    params: Mapping[str, Any]
    now_us: int = 0
    books: dict[str, Book] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)  # signed quantity per symbol
    orders: dict[str, WorkingOrder] = field(default_factory=dict)
    _sequence: int = 0
    _outbox: list[tuple[str, Record]] = field(default_factory=list)

    def position(self, symbol: str) -> int:
        return self.positions.get(symbol, 0)

    def working(self, symbol: str | None = None) -> list[WorkingOrder]:
        """Working orders (of ``symbol``), not yet asked to cancel, in the order they were sent."""
        return [o for o in self.orders.values() if not o.cancel_sent and (symbol is None or o.symbol == symbol)]

    def buy(self, symbol: str, quantity: int, price: int | None = None, **terms: Any) -> str:
        return self.submit(symbol, "BUY", quantity, price, **terms)

    def sell(self, symbol: str, quantity: int, price: int | None = None, **terms: Any) -> str:
        return self.submit(symbol, "SELL", quantity, price, **terms)

    def submit(
        self,
        symbol: str,
        side: str,
        quantity: int,
        price: int | None = None,
        *,
        time_in_force: str | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
    ) -> str:
        """A NewOrder: a limit order with a price, a market order without (IOC unless told). Its order id."""
        self._sequence += 1
        client_order_id = f"{self.name}-{self._sequence}"
        order_id = order_id_for(self.account, client_order_id)
        order_type = "LIMIT" if price is not None else "MARKET"
        tif = time_in_force or ("GTC" if price is not None else "IOC")
        record: Record = {
            "account": self.account,
            "order_id": order_id,
            "client_order_id": client_order_id,
            "symbol": symbol,
            "side": side,
            "order_type": order_type,
            "quantity": quantity,
            "price": price,
            "stop_price": None,
            "time_in_force": tif,
            "expire_time_us": None,
            "post_only": post_only,
            "reduce_only": reduce_only,
            "venue": None,
            "parent_order_id": None,
            "execution": None,
        }
        self._outbox.append((NEW_ORDER, record))
        self.orders[order_id] = WorkingOrder(order_id, client_order_id, symbol, side, quantity, price, quantity)
        return order_id

    def cancel(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is None or order.cancel_sent:
            return
        order.cancel_sent = True
        self._outbox.append((CANCEL_ORDER, {"account": self.account, "order_id": order_id, "symbol": order.symbol}))

    def amend(self, order_id: str, *, quantity: int | None = None, price: int | None = None) -> None:
        record = {"account": self.account, "order_id": order_id, "quantity": quantity, "price": price}
        self._outbox.append((AMEND_ORDER, record | {"stop_price": None}))


class Strategy:
    """Override what you need; every callback may send orders through ``self.ctx``."""

    ctx: StrategyContext
    timer_interval_us: int | None = None  # on_timer every so often of event time; None: no timer

    def on_start(self) -> None:
        """Once, before the first event the strategy sees."""

    def on_book(self, book: Book) -> None:
        """The top of a book changed."""

    def on_trade(self, trade: Trade) -> None:
        """A trade printed in the market."""

    def on_fill(self, fill: Fill) -> None:
        """One of the strategy's orders filled (``ctx.positions`` already counts it)."""

    def on_timer(self) -> None:
        """Every ``timer_interval_us`` of event time."""


def strategy_class(spec: str) -> type[Strategy]:
    """A strategy by name (``STRATEGIES``) or as ``module:Class``."""
    target = STRATEGIES.get(spec, spec)
    module_name, colon, class_name = target.partition(":")
    if not colon:
        raise ValueError(f"unknown strategy {spec!r}: name one of {', '.join(STRATEGIES)} or give module:Class")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load strategy {target!r}: {error}") from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{target} is not a Strategy subclass")
    return cls


class StrategyRunner:
    """Hosts one strategy as a pure function of events: ``on_event`` → the command records it sends."""

    def __init__(self, strategy: Strategy, *, name: str, account: str, params: Mapping[str, Any]) -> None:
        self.strategy = strategy
        self.name = name
        self.producer = f"strategy.{name}"
        self.ctx = StrategyContext(name=name, account=account, params=dict(params))
        strategy.ctx = self.ctx
        self.started = False
        self._next_timer_us: int | None = None

    def start(self, now_us: int) -> list[Emit]:
        self.started = True
        self.ctx.now_us = now_us
        self.strategy.on_start()  # may set the timer's interval from its parameters
        interval = self.strategy.timer_interval_us
        if interval is not None:
            self._next_timer_us = (now_us // interval + 1) * interval
        return self._flush(f"start|{self.name}|{self.ctx.account}|{now_us}")

    def advance(self, now_us: int) -> list[Emit]:
        """Fire the timers due up to ``now_us`` (each at its own time)."""
        out: list[Emit] = []
        interval = self.strategy.timer_interval_us
        while self._next_timer_us is not None and interval is not None and self._next_timer_us <= now_us:
            self.ctx.now_us = self._next_timer_us
            self.strategy.on_timer()
            out += self._flush(f"timer|{self.name}|{self.ctx.account}|{self._next_timer_us}")
            self._next_timer_us += interval
        self.ctx.now_us = max(self.ctx.now_us, now_us)
        return out

    def on_event(self, event: Event, now_us: int) -> list[Emit]:
        """One event of ``STRATEGY_INPUTS`` (others are ignored), seen at ``now_us``."""
        record = event.record
        ctx = self.ctx
        schema = event.schema
        if schema not in (BOOK_TOP, TRADE) and not (schema == ORDER_EVENT and record["account"] == ctx.account):
            return []
        out = self.advance(now_us)  # the timers due before this event see the state before it
        if schema == BOOK_TOP:
            if record["stale"]:
                ctx.books.pop(record["symbol"], None)
                return out
            book = book_of(record)
            ctx.books[book.symbol] = book
            self.strategy.on_book(book)
        elif schema == TRADE:
            trade = Trade(
                record["symbol"],
                record["meta"]["event_time_us"],
                record["price"],
                record["quantity"],
                record["aggressor"],
            )
            self.strategy.on_trade(trade)
        else:
            fill = self._track(record)
            if fill is not None:
                self.strategy.on_fill(fill)
        return out + self._flush(record["meta"]["event_id"])

    def _track(self, record: Mapping[str, Any]) -> Fill | None:
        ctx = self.ctx
        order = ctx.orders.get(record["order_id"])
        if order is not None:
            order.status = record["status"]
            order.leaves = record["leaves_quantity"]
            order.quantity = record["quantity"]
            order.price = record["price"]
            if record["status"] in TERMINAL_STATUSES:
                del ctx.orders[record["order_id"]]
        if not record["last_quantity"]:
            return None
        signed = record["last_quantity"] if record["side"] == "BUY" else -record["last_quantity"]
        ctx.positions[record["symbol"]] = ctx.positions.get(record["symbol"], 0) + signed
        return Fill(
            record["order_id"],
            record["symbol"],
            record["side"],
            record["last_quantity"],
            record["last_price"],
            record["fee"],
            record["liquidity"],
            record["meta"]["event_time_us"],
        )

    def _flush(self, cause_id: str) -> list[Emit]:
        outbox = self.ctx._outbox
        if not outbox:
            return []
        now = self.ctx.now_us
        emits = []
        for index, (schema, record) in enumerate(outbox):
            event_id = derived_event_id(cause_id, self.producer, index)
            meta = {
                "event_id": event_id,
                "producer": self.producer,
                "event_time_us": now,
                "ingest_time_us": now,
                "causation_id": cause_id,
                "correlation_id": event_id,
            }
            emits.append(Emit(ORDERS_COMMANDS, self.ctx.account, schema, {"meta": meta} | record))
        outbox.clear()
        return emits
