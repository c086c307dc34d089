"""One valid, realistic record per event schema: for tests, the Kafka round-trip check and the demo.

Deterministic: no randomness, no clock. `seq` numbers the event (event_id "evt-000001", event time
BASE_TIME_US + seq ms), and the records tell one coherent story: a BTCUSDT limit buy is approved, routed,
partly filled at 64250.5 with a maker fee, and the position is marked at 64260.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas import types as t
from schemas.names import (
    AMEND_ORDER,
    BOOK_TOP,
    CANCEL_ORDER,
    CIRCUIT_BREAKER,
    CLOCK_TICK,
    DEAD_LETTER,
    DEPTH_SNAPSHOT,
    DEPTH_UPDATE,
    EXECUTION_REPORT,
    FEED_STATUS,
    KILL_SWITCH,
    MARKET_ANALYTICS,
    NEW_ORDER,
    ORDER_EVENT,
    POSITION,
    RISK_DECISION,
    RISK_LIMITS,
    TRADE,
    TRADING_STATE_SET,
    VENUE_ORDER,
)
from schemas.scales import CASH_DECIMALS, PRICE_DECIMALS, QUANTITY_DECIMALS, Cash, Price, Quantity, notional, to_fixed

BASE_TIME_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
ACCOUNT = "acct-001"
SYMBOL = "BTCUSDT"
VENUE = "sim"
ORDER_ID = "ord-acct-001-cl-000001"
CLIENT_ORDER_ID = "cl-000001"
CORRELATION_ID = "corr-000001"
MAKER_FEE_BPS = 2


def price(text: str) -> Price:
    return Price(to_fixed(text, PRICE_DECIMALS))


def qty(text: str) -> Quantity:
    return Quantity(to_fixed(text, QUANTITY_DECIMALS))


def cash(text: str) -> Cash:
    return Cash(to_fixed(text, CASH_DECIMALS))


FILL_PRICE = price("64250.5")
FILL_QUANTITY = qty("0.005")
FILL_NOTIONAL = notional(FILL_PRICE, FILL_QUANTITY)
FILL_FEE = FILL_NOTIONAL * MAKER_FEE_BPS // 10_000
MARK_PRICE = price("64260")


def example_meta(seq: int = 1, producer: str = "example", causation_id: str | None = None) -> t.EventMeta:
    event_time_us = BASE_TIME_US + seq * 1_000
    return {
        "event_id": f"evt-{seq:06d}",
        "producer": producer,
        "event_time_us": event_time_us,
        "ingest_time_us": event_time_us + 250,
        "causation_id": causation_id,
        "correlation_id": CORRELATION_ID,
    }


def _levels(*pairs: tuple[str, str]) -> list[t.PriceLevel]:
    return [{"price": price(p), "quantity": qty(q)} for p, q in pairs]


def _trade(seq: int) -> t.Trade:
    return {
        "meta": example_meta(seq, "connector.sim"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "trade_id": f"trd-{seq:06d}",
        "price": FILL_PRICE,
        "quantity": qty("0.012"),
        "aggressor": "SELL",
    }


def _depth_update(seq: int) -> t.DepthUpdate:
    return {
        "meta": example_meta(seq, "connector.sim"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "first_update_id": 1001,
        "last_update_id": 1003,
        "previous_last_update_id": 1000,
        "bids": _levels(("64250.4", "1.2"), ("64250.3", "0")),
        "asks": _levels(("64250.6", "0.8")),
    }


def _depth_snapshot(seq: int) -> t.DepthSnapshot:
    return {
        "meta": example_meta(seq, "connector.sim"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "last_update_id": 1000,
        "bids": _levels(("64250.4", "1.1"), ("64250.3", "0.4"), ("64250", "2.5")),
        "asks": _levels(("64250.6", "0.7"), ("64251", "1.3"), ("64252.5", "3")),
    }


def _book_top(seq: int) -> t.BookTop:
    return {
        "meta": example_meta(seq, "orderbook"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "sequence": 1003,
        "bid_price": price("64250.4"),
        "bid_quantity": qty("1.2"),
        "ask_price": price("64250.6"),
        "ask_quantity": qty("0.8"),
        "bids": _levels(("64250.4", "1.2"), ("64250", "2.5")),
        "asks": _levels(("64250.6", "0.8"), ("64251", "1.3")),
        "stale": False,
    }


def _market_analytics(seq: int) -> t.MarketAnalytics:
    return {
        "meta": example_meta(seq, "analytics"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "window_end_us": BASE_TIME_US + 60_000_000,
        "spread": 0.2,
        "mid": 64250.5,
        "microprice": 64250.52,
        "depth_imbalance": 0.2,
        "realized_volatility": 0.00041,
        "trade_flow_imbalance": -0.15,
        "vpin": 0.31,
        "kyle_lambda": 0.0027,
        "kyle_lambda_t": 3.4,
        "pin": None,  # too few trades in the window to estimate
    }


def _feed_status(seq: int) -> t.FeedStatus:
    return {
        "meta": example_meta(seq, "connector.sim"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "status": "RESYNCED",
        "detail": "gap 998..1000 closed by snapshot at update 1000",
    }


def _new_order(seq: int) -> t.NewOrder:
    return {
        "meta": example_meta(seq, "api"),
        "account": ACCOUNT,
        "order_id": ORDER_ID,
        "client_order_id": CLIENT_ORDER_ID,
        "symbol": SYMBOL,
        "side": "BUY",
        "order_type": "LIMIT",
        "quantity": qty("0.015"),
        "price": FILL_PRICE,
        "stop_price": None,
        "time_in_force": "GTC",
        "expire_time_us": None,
        "post_only": True,
        "reduce_only": False,
        "venue": None,
        "parent_order_id": None,
        "execution": {
            "algo": "ICEBERG",
            "start_time_us": None,
            "end_time_us": None,
            "participation_bps": None,
            "display_quantity": qty("0.005"),
            "peg_offset": None,
            "params": {"refresh": "on-fill"},
        },
    }


def _cancel_order(seq: int) -> t.CancelOrder:
    return {"meta": example_meta(seq, "api"), "account": ACCOUNT, "order_id": ORDER_ID, "symbol": SYMBOL}


def _amend_order(seq: int) -> t.AmendOrder:
    return {
        "meta": example_meta(seq, "api"),
        "account": ACCOUNT,
        "order_id": ORDER_ID,
        "quantity": qty("0.02"),
        "price": price("64251"),
        "stop_price": None,
    }


def _risk_decision(seq: int) -> t.RiskDecision:
    command = _new_order(seq - 1)
    return {
        "meta": example_meta(seq, "risk", causation_id=command["meta"]["event_id"]),
        "account": ACCOUNT,
        "order_id": ORDER_ID,
        "symbol": SYMBOL,
        "command_type": "NEW",
        "approved": True,
        "reason": None,
        "detail": "all checks passed",
        "checks": [
            {"check": "SYMBOL_ALLOWED", "passed": True, "observed": None, "limit": None, "detail": ""},
            {
                "check": "ORDER_NOTIONAL",
                "passed": True,
                "observed": notional(FILL_PRICE, qty("0.015")),
                "limit": cash("100000"),
                "detail": "",
            },
            {"check": "PRICE_COLLAR", "passed": True, "observed": 0, "limit": 500, "detail": "basis points"},
        ],
        "command": (NEW_ORDER, command),
    }


def _risk_limits(seq: int) -> t.RiskLimits:
    return {
        "meta": example_meta(seq, "ops"),
        "account": ACCOUNT,
        "allowed_symbols": [SYMBOL, "ETHUSDT"],
        "max_order_quantity": qty("2"),
        "max_order_notional": cash("100000"),
        "max_position_quantity": qty("5"),
        "max_open_orders": 50,
        "orders_per_second": 20,
        "order_burst": 40,
        "price_collar_bps": 500,
        "daily_loss_limit": cash("25000"),
        "reference_prices": {SYMBOL: price("64250"), "ETHUSDT": price("3400.25")},
    }


def _order_event(seq: int) -> t.OrderEvent:
    return {
        "meta": example_meta(seq, "oms", causation_id=f"evt-{seq - 1:06d}"),
        "account": ACCOUNT,
        "order_id": ORDER_ID,
        "client_order_id": CLIENT_ORDER_ID,
        "symbol": SYMBOL,
        "side": "BUY",
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "event_type": "PARTIALLY_FILLED",
        "status": "PARTIALLY_FILLED",
        "version": 3,
        "quantity": qty("0.015"),
        "price": FILL_PRICE,
        "stop_price": None,
        "cum_quantity": FILL_QUANTITY,
        "leaves_quantity": qty("0.015") - FILL_QUANTITY,
        "avg_price": FILL_PRICE,
        "last_quantity": FILL_QUANTITY,
        "last_price": FILL_PRICE,
        "fee": FILL_FEE,
        "fill_id": "fill-000001",
        "liquidity": "MAKER",
        "reject_reason": None,
        "detail": "",
        "post_only": True,
        "reduce_only": False,
        "expire_time_us": None,
        "venue": VENUE,
        "parent_order_id": None,
        "command_id": None,
    }


def _kill_switch(seq: int) -> t.KillSwitch:
    return {
        "meta": example_meta(seq, "ops"),
        "scope": "ACCOUNT",
        "target": ACCOUNT,
        "active": True,
        "cancel_open_orders": True,
        "actor": "ops:alice",
        "detail": "strategy misbehaving",
    }


def _clock_tick(seq: int) -> t.ClockTick:
    return {"meta": example_meta(seq, "ticker"), "source": "ticker", "interval_us": 1_000_000}


def _circuit_breaker(seq: int) -> t.CircuitBreaker:
    return {
        "meta": example_meta(seq, "risk"),
        "scope": "SYMBOL",
        "target": SYMBOL,
        "state": "TRIPPED",
        "trading_state": "REDUCE_ONLY",
        "trigger_count": 5,
        "window_us": 60_000_000,
        "cool_down_until_us": BASE_TIME_US + 300_000_000,
        "detail": "5 price collar denials within 60 s",
    }


def _trading_state_set(seq: int) -> t.TradingStateSet:
    return {
        "meta": example_meta(seq, "ops"),
        "account": ACCOUNT,
        "trading_state": "HALTED",
        "actor": "ops:alice",
        "detail": "end of day",
    }


def _venue_order(seq: int) -> t.VenueOrder:
    return {
        "meta": example_meta(seq, "execution", causation_id=f"evt-{seq - 1:06d}"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "account": ACCOUNT,
        "order_id": f"{ORDER_ID}-c1",
        "parent_order_id": ORDER_ID,
        "action": "NEW",
        "side": "BUY",
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "quantity": FILL_QUANTITY,
        "price": FILL_PRICE,
        "stop_price": None,
        "post_only": True,
        "expire_time_us": None,
        "risk_decision_id": f"evt-{seq - 1:06d}",
    }


def _execution_report(seq: int) -> t.ExecutionReport:
    return {
        "meta": example_meta(seq, "venue.sim"),
        "venue": VENUE,
        "symbol": SYMBOL,
        "account": ACCOUNT,
        "order_id": f"{ORDER_ID}-c1",
        "exec_type": "FILL",
        "fill_id": "fill-000001",
        "last_quantity": FILL_QUANTITY,
        "last_price": FILL_PRICE,
        "liquidity": "MAKER",
        "fee": FILL_FEE,
        "cum_quantity": FILL_QUANTITY,
        "leaves_quantity": 0,
        "reject_reason": None,
        "detail": "",
    }


def _position(seq: int) -> t.Position:
    unrealized = notional(Price(MARK_PRICE - FILL_PRICE), FILL_QUANTITY)
    return {
        "meta": example_meta(seq, "portfolio"),
        "account": ACCOUNT,
        "symbol": SYMBOL,
        "quantity": FILL_QUANTITY,
        "avg_price": FILL_PRICE,
        "realized_pnl": 0,
        "unrealized_pnl": unrealized,
        "fees": FILL_FEE,
        "cash": -FILL_NOTIONAL - FILL_FEE,
        "mark_price": MARK_PRICE,
        "fill_count": 1,
        "last_fill_id": "fill-000001",
        "version": 2,
    }


def _dead_letter(seq: int) -> t.DeadLetter:
    return {
        "meta": example_meta(seq, "risk"),
        "source_topic": "orders.commands",
        "source_partition": 0,
        "source_offset": 42,
        "key": ACCOUNT.encode(),
        "value": b"\xc3\x01not-an-avro-body",
        "reason": "UNDECODABLE",
        "detail": "unknown writer schema fingerprint 6e6f742d616e2d61",
        "stage": "risk",
    }


_BUILDERS: Mapping[str, Callable[[int], Mapping[str, Any]]] = {
    TRADE: _trade,
    DEPTH_UPDATE: _depth_update,
    DEPTH_SNAPSHOT: _depth_snapshot,
    BOOK_TOP: _book_top,
    MARKET_ANALYTICS: _market_analytics,
    FEED_STATUS: _feed_status,
    NEW_ORDER: _new_order,
    CANCEL_ORDER: _cancel_order,
    AMEND_ORDER: _amend_order,
    ORDER_EVENT: _order_event,
    RISK_DECISION: _risk_decision,
    RISK_LIMITS: _risk_limits,
    KILL_SWITCH: _kill_switch,
    CLOCK_TICK: _clock_tick,
    CIRCUIT_BREAKER: _circuit_breaker,
    TRADING_STATE_SET: _trading_state_set,
    VENUE_ORDER: _venue_order,
    EXECUTION_REPORT: _execution_report,
    POSITION: _position,
    DEAD_LETTER: _dead_letter,
}


def example_event(schema_name: str, seq: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid record of the event schema `schema_name` (full name); `overrides` replace top-level fields."""
    try:
        build = _BUILDERS[schema_name]
    except KeyError:
        raise ValueError(f"no example for {schema_name!r}; known: {', '.join(sorted(_BUILDERS))}") from None
    record = dict(build(seq))
    if unknown := sorted(overrides.keys() - record.keys()):
        raise ValueError(f"{schema_name} has no field(s) {', '.join(unknown)}")
    record.update(overrides)
    return record


def example_events(seq: int = 1) -> dict[str, dict[str, Any]]:
    """One example per event schema, by full name."""
    return {name: example_event(name, seq) for name in _BUILDERS}
