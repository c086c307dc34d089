"""The strategy API: callbacks, the commands a strategy sends (the same records as live), ids, timers."""

from __future__ import annotations

import pytest

from processors.core import Event, order_id_for
from replay.backtest.strategy import Book, Fill, Strategy, StrategyRunner, Trade, strategy_class
from schemas.codec import default_codec
from schemas.names import BOOK_TOP, CANCEL_ORDER, NEW_ORDER, ORDER_EVENT
from tests.kit.events import ACCOUNT, T0, P, Q, order_event, trade
from topics.catalogue import MD_BOOK_TOP, ORDERS_COMMANDS


class Recorder(Strategy):
    timer_interval_us = 1_000_000

    def on_start(self) -> None:
        self.seen: list[object] = []
        self.books_at_timer: list[Book | None] = []

    def on_book(self, book: Book) -> None:
        self.seen.append(book)
        self.order_id = self.ctx.buy(book.symbol, 1 * Q, book.bid_price)

    def on_trade(self, trade: Trade) -> None:
        self.seen.append(trade)
        self.ctx.cancel(self.order_id)
        self.ctx.cancel(self.order_id)  # asked twice, sent once

    def on_fill(self, fill: Fill) -> None:
        self.seen.append(fill)

    def on_timer(self) -> None:
        self.seen.append(("timer", self.ctx.now_us))
        self.books_at_timer.append(self.ctx.books.get("BTCUSDT"))


def book_top(t: int, bid: int, bid_qty: int, ask: int, ask_qty: int, event_id: str = "top-1") -> Event:
    record = {
        "meta": {
            "event_id": event_id,
            "producer": "orderbook",
            "event_time_us": t,
            "ingest_time_us": t,
            "causation_id": None,
            "correlation_id": event_id,
        },
        "venue": "sim",
        "symbol": "BTCUSDT",
        "sequence": 1,
        "bid_price": bid,
        "bid_quantity": bid_qty,
        "ask_price": ask,
        "ask_quantity": ask_qty,
        "bids": [],
        "asks": [],
        "stale": False,
    }
    return Event(MD_BOOK_TOP, "BTCUSDT", BOOK_TOP, record, t)


def runner() -> tuple[StrategyRunner, Recorder]:
    strategy = Recorder()
    return StrategyRunner(strategy, name="rec", account=ACCOUNT, params={}), strategy


def test_a_book_becomes_on_book_and_the_order_a_new_order_command_that_encodes() -> None:
    host, strategy = runner()
    host.start(T0)
    commands = host.on_event(book_top(T0 + 10, 100 * P, 3 * Q, 101 * P, 1 * Q), T0 + 10)
    (book,) = strategy.seen
    assert isinstance(book, Book) and book.mid == 100 * P + P // 2
    assert book.microprice == 100 * P + 75 * P // 100  # a heavy bid pulls the microprice to the ask
    (command,) = commands
    assert (command.topic, command.key, command.schema) == (ORDERS_COMMANDS, ACCOUNT, NEW_ORDER)
    record = command.record
    assert record["order_id"] == order_id_for(ACCOUNT, "rec-1") and record["client_order_id"] == "rec-1"
    assert (record["order_type"], record["price"], record["time_in_force"]) == ("LIMIT", 100 * P, "GTC")
    assert record["meta"]["event_time_us"] == T0 + 10 and record["meta"]["causation_id"] == "top-1"
    default_codec().encode(command.schema, record)


def test_the_same_events_give_the_same_command_ids() -> None:
    ids = []
    for _ in range(2):
        host, _strategy = runner()
        host.start(T0)
        ids.append([c.record["meta"]["event_id"] for c in host.on_event(book_top(T0, P, Q, 2 * P, Q), T0)])
    assert ids[0] == ids[1] and len(ids[0]) == 1


def test_a_cancel_asked_twice_is_sent_once_and_a_fill_moves_the_position() -> None:
    host, strategy = runner()
    host.start(T0)
    (new,) = host.on_event(book_top(T0, 100 * P, Q, 101 * P, Q), T0)
    order_id = new.record["order_id"]
    (cancel,) = host.on_event(trade(100 * P, t=T0 + 5), T0 + 5)
    assert cancel.schema == CANCEL_ORDER and cancel.record["order_id"] == order_id
    fill = order_event(order_id, "FILLED", "FILLED", cum=Q, last_quantity=Q, last_price=100 * P, fee=7, t=T0 + 6)
    assert fill.schema == ORDER_EVENT
    assert host.on_event(fill, T0 + 6) == []
    assert isinstance(strategy.seen[-1], Fill) and strategy.seen[-1].fee == 7
    assert host.ctx.position("BTCUSDT") == Q and host.ctx.working() == []  # a filled order is no longer working


def test_timers_fire_at_each_boundary_in_event_time_before_the_event_that_passes_them() -> None:
    host, strategy = runner()
    host.start(T0 + 200)
    host.advance(T0 + 2_500_000)
    assert strategy.seen == [("timer", T0 + 1_000_000), ("timer", T0 + 2_000_000)]


def test_another_accounts_order_events_are_ignored() -> None:
    host, strategy = runner()
    host.start(T0)
    host.on_event(order_event("x", "FILLED", "FILLED", account="other", last_quantity=Q, last_price=P), T0)
    assert strategy.seen == [] and host.ctx.positions == {}


def test_strategies_load_by_name_or_module_and_class_and_bad_names_say_what_is_known() -> None:
    assert strategy_class("market_maker").__name__ == "MarketMaker"
    assert strategy_class("replay.backtest.strategies.momentum:Momentum").__name__ == "Momentum"
    with pytest.raises(ValueError, match="market_maker"):
        strategy_class("nope")
    with pytest.raises(ValueError, match="cannot load"):
        strategy_class("no.such.module:Thing")
    with pytest.raises(ValueError, match="not a Strategy"):
        strategy_class("processors.core:Event")


def test_a_timer_due_before_a_book_fires_before_the_strategy_sees_that_book() -> None:
    host, strategy = runner()
    host.start(T0)
    host.on_event(book_top(T0 + 10, 100 * P, Q, 101 * P, Q), T0 + 10)
    host.on_event(book_top(T0 + 1_500_000, 90 * P, Q, 91 * P, Q, event_id="top-2"), T0 + 1_500_000)
    timer = strategy.seen.index(("timer", T0 + 1_000_000))
    later_book = strategy.seen[timer + 1]
    assert isinstance(later_book, Book) and later_book.bid_price == 90 * P  # the timer came first
    (seen_by_timer,) = strategy.books_at_timer
    assert seen_by_timer is not None and seen_by_timer.bid_price == 100 * P  # and saw the book of its time
