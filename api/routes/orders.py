"""Order commands: place, cancel, amend. Each is produced to orders.commands (key: account) and answered 202
with its place in the log; the outcome follows as order events (GET /v1/orders/{id}/events, the stream)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api import commands
from api.amounts import quantity_fp, text
from api.auth import Action, Principal
from api.deps import Db, Res, allowed, require_account
from api.errors import ApiProblem, responses
from api.models import OrderAccepted, OrderCommandAccepted, OrderCreate, OrderUpdate, Text
from api.producer import Delivered
from connectors.postgres import read_models
from connectors.postgres.read_models import Order
from processors.core import Record, order_id_for
from schemas.names import AMEND_ORDER, CANCEL_ORDER, NEW_ORDER
from schemas.statuses import TERMINAL_STATUSES
from topics.catalogue import ORDERS_COMMANDS

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderId = Annotated[Text, Path(min_length=1, max_length=128, description="The order id from POST /v1/orders.")]


def produce_command(res: Res, schema: str, key: str, record: Record) -> Delivered:
    began = time.perf_counter()
    delivered = res.producer.send(ORDERS_COMMANDS, key, schema, record)
    res.metrics.produce_latency.observe(time.perf_counter() - began)
    res.metrics.commands.labels(schema).inc()
    return delivered


@router.post(
    "",
    status_code=202,
    response_model=OrderAccepted,
    summary="Place an order",
    responses=responses(401, 403, 413, 429, 503),
)
def place_order(
    body: OrderCreate, res: Res, principal: Annotated[Principal, Depends(allowed(Action.PLACE_ORDER))]
) -> OrderAccepted:
    """Writes a NewOrder command. The same ``client_order_id`` always names the same ``order_id``: a resent
    order is never a second order (the OMS answers it with DUPLICATE_REJECTED)."""
    require_account(principal, body.account)
    origin = res.origin()
    client_order_id = body.client_order_id or f"api-{uuid.uuid4().hex}"
    record = commands.new_order(body, client_order_id, origin)
    delivered = produce_command(res, NEW_ORDER, body.account, record)
    return OrderAccepted(
        order_id=order_id_for(body.account, client_order_id),
        client_order_id=client_order_id,
        event_id=origin.event_id,
        topic=delivered.topic,
        partition=delivered.partition,
        offset=delivered.offset,
    )


def visible_order(conn: Db, principal: Principal, order_id: str) -> Order:
    """The order, or 404 when it does not exist or belongs to an account the caller may not see (same answer,
    so a key cannot probe other accounts' order ids)."""
    order = read_models.get_order(conn, order_id)
    if order is None or not principal.sees(order.account):
        raise ApiProblem(404, f"no order {order_id}", "UNKNOWN_ORDER")
    return order


def _live(order: Order, action: str) -> None:
    if order.status in TERMINAL_STATUSES:
        raise ApiProblem(
            409,
            f"cannot {action} order {order.order_id}: it is {order.status}",
            "INVALID_TRANSITION",
            {"status": order.status, "version": order.version},
        )


def _correlation_id(conn: Db, order_id: str) -> str | None:
    """The correlation id of the order's story (its first event's), so the command joins it."""
    first = read_models.order_events(conn, order_id, limit=1)
    return str(first[0].event["meta"]["correlation_id"]) if first else None


@router.delete(
    "/{order_id}",
    status_code=202,
    response_model=OrderCommandAccepted,
    summary="Cancel an order",
    responses=responses(401, 403, 404, 409, 429, 503),
)
def cancel_order(
    order_id: OrderId, conn: Db, res: Res, principal: Annotated[Principal, Depends(allowed(Action.CANCEL_ORDER))]
) -> OrderCommandAccepted:
    """Writes a CancelOrder command for a live order; 409 when the order is already terminal. An order is known
    once the projection has its first event (milliseconds after POST): until then it is a 404."""
    order = visible_order(conn, principal, order_id)
    _live(order, "cancel")
    origin = res.origin()
    record = commands.cancel_order(order.account, order_id, order.symbol, origin, _correlation_id(conn, order_id))
    delivered = produce_command(res, CANCEL_ORDER, order.account, record)
    return OrderCommandAccepted(
        order_id=order_id,
        event_id=origin.event_id,
        topic=delivered.topic,
        partition=delivered.partition,
        offset=delivered.offset,
    )


@router.patch(
    "/{order_id}",
    status_code=202,
    response_model=OrderCommandAccepted,
    summary="Amend an order",
    responses=responses(401, 403, 404, 409, 413, 429, 503),
)
def amend_order(
    order_id: OrderId,
    body: OrderUpdate,
    conn: Db,
    res: Res,
    principal: Annotated[Principal, Depends(allowed(Action.AMEND_ORDER))],
) -> OrderCommandAccepted:
    """Writes an AmendOrder command; 409 when the order is terminal or the new quantity is below what is
    already filled (the OMS would refuse it with the same reason)."""
    order = visible_order(conn, principal, order_id)
    _live(order, "amend")
    if body.quantity is not None and quantity_fp(body.quantity) < order.cum_quantity:
        raise ApiProblem(
            409,
            f"quantity {body.quantity} is below the filled quantity",
            "AMEND_BELOW_FILLED",
            {"cum_quantity": text(order.cum_quantity, "quantity")},
        )
    origin = res.origin()
    record = commands.amend_order(order.account, order_id, body, origin, _correlation_id(conn, order_id))
    delivered = produce_command(res, AMEND_ORDER, order.account, record)
    return OrderCommandAccepted(
        order_id=order_id,
        event_id=origin.event_id,
        topic=delivered.topic,
        partition=delivered.partition,
        offset=delivered.offset,
    )
