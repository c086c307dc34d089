"""Read-model rows and raw events → public response models (fixed-point ints → decimal strings)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from api.amounts import maybe_text, text
from api.models import BookTopPublic, FillPublic, OrderEventPublic, OrderPublic, PositionPublic, RiskLimitsPublic
from connectors.postgres.read_models import Fill, Order, Position

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def at(time_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_us)


def maybe_at(time_us: int | None) -> datetime | None:
    return None if time_us is None else at(time_us)


def order_public(order: Order) -> OrderPublic:
    return OrderPublic(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        account=order.account,
        symbol=order.symbol,
        side=order.side.lower(),
        type=order.order_type.lower(),
        time_in_force=order.time_in_force.lower(),
        status=order.status,
        version=order.version,
        quantity=text(order.quantity, "quantity"),
        price=maybe_text(order.price, "price"),
        stop_price=maybe_text(order.stop_price, "price"),
        cum_quantity=text(order.cum_quantity, "quantity"),
        leaves_quantity=text(order.leaves_quantity, "quantity"),
        avg_price=maybe_text(order.avg_price, "price"),
        post_only=order.post_only,
        reduce_only=order.reduce_only,
        expire_time=maybe_at(order.expire_time_us),
        venue=order.venue,
        parent_order_id=order.parent_order_id,
        last_event_type=order.last_event_type,
        last_reason=order.last_reason,
        last_detail=order.last_detail,
        created_time=at(order.created_time_us),
        updated_time=at(order.updated_time_us),
        event_count=order.event_count,
    )


def order_event_public(event: Mapping[str, Any], sequence: int | None = None) -> OrderEventPublic:
    """From an OrderEvent record as decoded from the topic (or stored as JSON by the projection)."""
    return OrderEventPublic(
        event_id=event["meta"]["event_id"],
        sequence=sequence,
        order_id=event["order_id"],
        client_order_id=event["client_order_id"],
        account=event["account"],
        symbol=event["symbol"],
        side=str(event["side"]).lower(),
        type=str(event["order_type"]).lower(),
        event_type=event["event_type"],
        status=event["status"],
        version=event["version"],
        quantity=text(event["quantity"], "quantity"),
        price=maybe_text(event["price"], "price"),
        stop_price=maybe_text(event["stop_price"], "price"),
        cum_quantity=text(event["cum_quantity"], "quantity"),
        leaves_quantity=text(event["leaves_quantity"], "quantity"),
        avg_price=maybe_text(event["avg_price"], "price"),
        last_quantity=text(event["last_quantity"], "quantity"),
        last_price=maybe_text(event["last_price"], "price"),
        fee=text(event["fee"], "cash"),
        fill_id=event["fill_id"],
        liquidity=event["liquidity"],
        reject_reason=event["reject_reason"],
        detail=event["detail"],
        command_id=event.get("command_id"),
        event_time=at(event["meta"]["event_time_us"]),
    )


def fill_public(fill: Fill) -> FillPublic:
    return FillPublic(
        order_id=fill.order_id,
        fill_id=fill.fill_id,
        account=fill.account,
        symbol=fill.symbol,
        side=None if fill.side is None else fill.side.lower(),
        quantity=text(fill.quantity, "quantity"),
        price=text(fill.price, "price"),
        fee=text(fill.fee, "cash"),
        liquidity=fill.liquidity,
        venue=fill.venue,
        time=at(fill.event_time_us),
    )


def position_public(position: Position) -> PositionPublic:
    return PositionPublic(
        account=position.account,
        symbol=position.symbol,
        quantity=text(position.quantity, "quantity"),
        avg_price=maybe_text(position.avg_price, "price"),
        realized_pnl=text(position.realized_pnl, "cash"),
        unrealized_pnl=text(position.unrealized_pnl, "cash"),
        fees=text(position.fees, "cash"),
        cash=text(position.cash, "cash"),
        mark_price=maybe_text(position.mark_price, "price"),
        fill_count=position.fill_count,
        last_fill_id=position.last_fill_id,
        version=position.version,
        updated_time=at(position.updated_time_us),
    )


def position_record_public(record: Mapping[str, Any]) -> PositionPublic:
    """From a Position record on portfolio.positions (the projection's row holds the same fields)."""
    meta = record["meta"]
    fields = {name: record[name] for name in Position.__dataclass_fields__ if name in record}
    return position_public(Position(**fields, updated_time_us=meta["event_time_us"], last_event_id=meta["event_id"]))


def book_top_public(record: Mapping[str, Any]) -> BookTopPublic:
    """From a BookTop record on md.book.top."""

    def levels(side: list[Mapping[str, int]]) -> list[list[str]]:
        return [[text(level["price"], "price"), text(level["quantity"], "quantity")] for level in side]

    return BookTopPublic(
        venue=record["venue"],
        symbol=record["symbol"],
        sequence=record["sequence"],
        bid_price=maybe_text(record["bid_price"], "price"),
        bid_quantity=maybe_text(record["bid_quantity"], "quantity"),
        ask_price=maybe_text(record["ask_price"], "price"),
        ask_quantity=maybe_text(record["ask_quantity"], "quantity"),
        bids=levels(record["bids"]),
        asks=levels(record["asks"]),
        stale=record["stale"],
        time=at(record["meta"]["event_time_us"]),
    )


def limits_public(account: str, limits: Mapping[str, Any], updated_time_us: int | None) -> RiskLimitsPublic:
    """From a RiskLimits record (or the defaults' record, with no time)."""
    return RiskLimitsPublic(
        account=account,
        source="default" if updated_time_us is None else "configured",
        updated_at=maybe_at(updated_time_us),
        allowed_symbols=list(limits["allowed_symbols"]),
        max_order_quantity=text(limits["max_order_quantity"], "quantity"),
        max_order_notional=text(limits["max_order_notional"], "cash"),
        max_position_quantity=text(limits["max_position_quantity"], "quantity"),
        max_open_orders=limits["max_open_orders"],
        orders_per_second=limits["orders_per_second"],
        order_burst=limits["order_burst"],
        price_collar_bps=limits["price_collar_bps"],
        daily_loss_limit=text(limits["daily_loss_limit"], "cash"),
        reference_prices={s: text(p, "price") for s, p in sorted(limits["reference_prices"].items())},
    )
