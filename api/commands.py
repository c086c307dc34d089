"""Avro command and control records from validated request bodies: pure, the id and the time come in.

The API is an origin of events (no cause): a command's ``event_id`` is new, ``causation_id`` is null and
``correlation_id`` is the event id of a new order, or the order's own correlation id for a cancel or amend
when the projection knows it, so one order's whole story shares one correlation id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from api.amounts import fp, price_fp, quantity_fp
from api.models import ExecutionCreate, KillSwitchCreate, OrderCreate, OrderUpdate, RiskLimitsUpdate
from processors.core import Record, order_id_for
from processors.risk.limits import DEFAULT_LIMITS

PRODUCER: Final = "api"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Origin:
    """What the edge supplies to a record: a fresh event id and the time it took the request."""

    event_id: str
    now_us: int


def meta(origin: Origin, correlation_id: str | None = None) -> Record:
    return {
        "event_id": origin.event_id,
        "producer": PRODUCER,
        "event_time_us": origin.now_us,
        "ingest_time_us": origin.now_us,
        "causation_id": None,
        "correlation_id": correlation_id or origin.event_id,
    }


def micros(moment: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime (integer arithmetic, no float timestamp)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def new_order(body: OrderCreate, client_order_id: str, origin: Origin) -> Record:
    return {
        "meta": meta(origin),
        "account": body.account,
        "order_id": order_id_for(body.account, client_order_id),
        "client_order_id": client_order_id,
        "symbol": body.symbol,
        "side": body.side.upper(),
        "order_type": body.type.upper(),
        "quantity": quantity_fp(body.quantity),
        "price": None if body.price is None else price_fp(body.price),
        "stop_price": None if body.stop_price is None else price_fp(body.stop_price),
        "time_in_force": body.time_in_force.upper(),
        "expire_time_us": None if body.expire_time is None else micros(body.expire_time),
        "post_only": body.post_only,
        "reduce_only": body.reduce_only,
        "venue": body.venue,
        "parent_order_id": None,
        "execution": None if body.execution is None else execution(body.execution),
    }


def execution(body: ExecutionCreate) -> Record:
    return {
        "algo": body.algo.upper(),
        "start_time_us": None if body.start_time is None else micros(body.start_time),
        "end_time_us": None if body.end_time is None else micros(body.end_time),
        "participation_bps": body.participation_bps,
        "display_quantity": None if body.display_quantity is None else quantity_fp(body.display_quantity),
        "peg_offset": None if body.peg_offset is None else price_fp(body.peg_offset),
        "params": dict(body.params),
    }


def cancel_order(
    account: str, order_id: str, symbol: str | None, origin: Origin, correlation_id: str | None = None
) -> Record:
    return {"meta": meta(origin, correlation_id), "account": account, "order_id": order_id, "symbol": symbol}


def amend_order(
    account: str, order_id: str, body: OrderUpdate, origin: Origin, correlation_id: str | None = None
) -> Record:
    return {
        "meta": meta(origin, correlation_id),
        "account": account,
        "order_id": order_id,
        "quantity": None if body.quantity is None else quantity_fp(body.quantity),
        "price": None if body.price is None else price_fp(body.price),
        "stop_price": None if body.stop_price is None else price_fp(body.stop_price),
    }


def kill_switch(
    scope: str, target: str | None, *, active: bool, cancel_open_orders: bool, actor: str, detail: str, origin: Origin
) -> Record:
    return {
        "meta": meta(origin),
        "scope": scope.upper(),
        "target": target,
        "active": active,
        "cancel_open_orders": cancel_open_orders,
        "actor": actor,
        "detail": detail,
    }


def engage_kill_switch(body: KillSwitchCreate, actor: str, origin: Origin) -> Record:
    return kill_switch(
        body.scope,
        body.target,
        active=True,
        cancel_open_orders=body.cancel_open_orders,
        actor=actor,
        detail=body.reason,
        origin=origin,
    )


def control_key(scope: str, target: str | None) -> str:
    """The control.events key risk uses for a scope: "GLOBAL", "ACCOUNT:<account>", "SYMBOL:<symbol>"."""
    return "GLOBAL" if scope.upper() == "GLOBAL" else f"{scope.upper()}:{target}"


def risk_limits(account: str, body: RiskLimitsUpdate, origin: Origin) -> Record:
    defaults = DEFAULT_LIMITS.as_record()

    def amount(name: str, scale: str) -> int:
        given: str | None = getattr(body, name)
        value: int = defaults[name] if given is None else fp(given, scale)
        return value

    def count(name: str) -> int:
        given: int | None = getattr(body, name)
        value: int = defaults[name] if given is None else given
        return value

    return {
        "meta": meta(origin),
        "account": account,
        "allowed_symbols": list(defaults["allowed_symbols"] if body.allowed_symbols is None else body.allowed_symbols),
        "max_order_quantity": amount("max_order_quantity", "quantity"),
        "max_order_notional": amount("max_order_notional", "cash"),
        "max_position_quantity": amount("max_position_quantity", "quantity"),
        "max_open_orders": count("max_open_orders"),
        "orders_per_second": count("orders_per_second"),
        "order_burst": count("order_burst"),
        "price_collar_bps": count("price_collar_bps"),
        "daily_loss_limit": amount("daily_loss_limit", "cash"),
        "reference_prices": dict(defaults["reference_prices"])
        if body.reference_prices is None
        else {symbol: price_fp(price) for symbol, price in body.reference_prices.items()},
    }
