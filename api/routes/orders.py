"""Order commands: place, cancel, amend. Each is produced to orders.commands (key: account) and answered 202
with its place in the log; the outcome follows as order events (GET /v1/orders/{id}/events, the stream).

Read-your-writes (api/read_your_writes.py): a read, cancel or amend of an order whose latest command this API
produced waits, bounded, for the projection to hold that command's answer, so a client never gets a 404 for
the order it just placed; past the bound it is a 409 ``PENDING_PROJECTION`` saying what is known.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from api import commands
from api.amounts import quantity_fp, text
from api.auth import Action, Principal
from api.db import Connection
from api.deps import Res, Resources, allowed, require_account
from api.errors import ApiProblem, responses
from api.models import OrderAccepted, OrderCommandAccepted, OrderCreate, OrderUpdate, Text
from api.producer import Delivered
from api.read_your_writes import ProducedCommand, Until, await_outcome, await_outcome_async, reached
from api.views import order_public
from connectors.postgres import read_models
from connectors.postgres.read_models import Order
from processors.core import Record, order_id_for
from schemas.names import AMEND_ORDER, CANCEL_ORDER, NEW_ORDER
from schemas.statuses import TERMINAL_STATUSES
from topics.catalogue import ORDERS_COMMANDS

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderId = Annotated[Text, Path(min_length=1, max_length=128, description="The order id from POST /v1/orders.")]


def produce_command(res: Resources, schema: str, key: str, record: Record) -> Delivered:
    began = time.perf_counter()
    delivered = res.producer.send(ORDERS_COMMANDS, key, schema, record)
    res.metrics.produce_latency.observe(time.perf_counter() - began)
    res.metrics.commands.labels(schema).inc()
    return delivered


async def produce_command_async(res: Resources, schema: str, key: str, record: Record) -> Delivered:
    began = time.perf_counter()
    delivered = await res.producer.send_async(ORDERS_COMMANDS, key, schema, record)
    res.metrics.produce_latency.observe(time.perf_counter() - began)
    res.metrics.commands.labels(schema).inc()
    return delivered


def produce_order_command(res: Resources, schema: str, record: Record) -> tuple[Delivered, ProducedCommand]:
    """Produces a command about one order and remembers it (once the broker has it) for read-your-writes."""
    delivered = produce_command(res, schema, record["account"], record)
    return delivered, remember(res, schema, record, delivered)


def remember(res: Resources, schema: str, record: Record, delivered: Delivered) -> ProducedCommand:
    """Read-your-writes: the command about an order the broker now has (api/read_your_writes.py)."""
    command = ProducedCommand(
        record["order_id"],
        record["account"],
        schema,
        record["meta"]["event_id"],
        delivered.topic,
        delivered.partition,
        delivered.offset,
    )
    res.produced.add(command)
    return command


@router.post(
    "",
    status_code=202,
    response_model=OrderAccepted,
    summary="Place an order",
    responses=responses(401, 403, 413, 429, 503),
    response_model_exclude_unset=True,  # ``order`` and ``pending_projection`` only when a wait was asked
)
async def place_order(
    body: OrderCreate,
    res: Res,
    principal: Annotated[Principal, Depends(allowed(Action.PLACE_ORDER))],
    wait: Annotated[
        Until | None,
        Query(
            description="Answer once the projection holds risk's decision (`decision`: PENDING_NEW, DENIED, …) "
            "or the venue's acknowledgement or the order's end (`accepted`), at most SQ_API_PROJECTION_WAIT_SECONDS; "
            "`order` is then the order's state, or `pending_projection` is true."
        ),
    ] = None,
) -> OrderAccepted:
    """Writes a NewOrder command. The same ``client_order_id`` always names the same ``order_id``: a resent
    order is never a second order (the OMS answers it with DUPLICATE_REJECTED)."""
    # Async: the event loop awaits the broker's acknowledgement (api/producer.py), no worker thread per order;
    # with ?wait=, each poll of the projection goes to a worker thread, the pauses between them stay on the loop.
    require_account(principal, body.account)
    origin = res.origin()
    client_order_id = body.client_order_id or f"api-{uuid.uuid4().hex}"
    record = commands.new_order(body, client_order_id, origin)
    delivered = await produce_command_async(res, NEW_ORDER, body.account, record)
    command = remember(res, NEW_ORDER, record, delivered)
    accepted = OrderAccepted(
        order_id=order_id_for(body.account, client_order_id),
        client_order_id=client_order_id,
        event_id=origin.event_id,
        topic=delivered.topic,
        partition=delivered.partition,
        offset=delivered.offset,
    )
    if wait is not None:
        outcome = await await_outcome_async(
            res.pool.connection, res.produced, command, wait, res.config.projection_wait_s
        )
        known = outcome.order if outcome is not None else None
        accepted.order = order_public(known) if known is not None else None  # at the timeout: as far as it got
        accepted.pending_projection = not reached(outcome, wait)
    return accepted


def visible_order(conn: Connection, principal: Principal, order_id: str) -> Order:
    """The order, or 404 when it does not exist or belongs to an account the caller may not see (same answer,
    so a key cannot probe other accounts' order ids)."""
    order = read_models.get_order(conn, order_id)
    if order is None or not principal.sees(order.account):
        raise ApiProblem(404, f"no order {order_id}", "UNKNOWN_ORDER")
    return order


def known_order(res: Resources, principal: Principal, order_id: str, *, latest: bool) -> Order:
    """The order as ``visible_order`` finds it, once the projection holds the answer to a command this API
    produced about it (bounded by ``projection_wait_s``; then a 409 PENDING_PROJECTION with what is known).

    ``latest`` (a read): the answer to the latest such command, so a GET after a DELETE shows the cancel's
    effect. Otherwise (a cancel, an amend) the order only has to be projected: the OMS answers a command on
    the order's latest state anyway, and a cancel should not wait behind an amend's answer. Another account's
    in-flight order is not waited for: it is the same immediate 404 as a missing one.
    """
    command = res.produced.get(order_id)
    if command is None or not principal.sees(command.account):
        return _visible_now(res, principal, order_id)
    if not latest:
        with res.pool.connection() as conn:
            order = read_models.get_order(conn, order_id)
        if order is not None:
            return order  # the command's account is the caller's, and an order never changes account
    outcome = await_outcome(res.pool.connection, res.produced, command, Until.DECISION, res.config.projection_wait_s)
    if outcome is None:
        raise _pending_projection(res, command, order_id)
    return _visible_now(res, principal, order_id)


async def read_known_order(res: Resources, principal: Principal, order_id: str) -> Order:
    """``known_order(latest=True)`` for an async read route: the wait for the projection on the event loop."""
    command = res.produced.get(order_id)
    if command is not None and principal.sees(command.account):
        wait_s = res.config.projection_wait_s
        outcome = await await_outcome_async(res.pool.connection, res.produced, command, Until.DECISION, wait_s)
        if outcome is None:
            raise await run_in_threadpool(_pending_projection, res, command, order_id)
    return await run_in_threadpool(_visible_now, res, principal, order_id)


def _visible_now(res: Resources, principal: Principal, order_id: str) -> Order:
    with res.pool.connection() as conn:
        return visible_order(conn, principal, order_id)


def _pending_projection(res: Resources, command: ProducedCommand, order_id: str) -> ApiProblem:
    """The 409 of a command whose answer the projection does not hold yet, with the order as it was before."""
    with res.pool.connection() as conn:
        before = read_models.get_order(conn, order_id)  # the state before the command, if projected
    return ApiProblem(
        409,
        f"order {order_id}: the projection has not reached the {command.known()['command']} this API "
        f"wrote within {res.config.projection_wait_s:g} s; retry",
        "PENDING_PROJECTION",
        {
            **command.known(),
            "pending_projection": True,
            "order": None if before is None else order_public(before).model_dump(mode="json"),
        },
        headers={"Retry-After": "1"},
    )


def _live(order: Order, action: str) -> None:
    if order.status in TERMINAL_STATUSES:
        raise ApiProblem(
            409,
            f"cannot {action} order {order.order_id}: it is {order.status}",
            "INVALID_TRANSITION",
            {"status": order.status, "version": order.version},
        )


def _correlation_id(conn: Connection, order_id: str) -> str | None:
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
    order_id: OrderId, res: Res, principal: Annotated[Principal, Depends(allowed(Action.CANCEL_ORDER))]
) -> OrderCommandAccepted:
    """Writes a CancelOrder command for a live order; 409 when the order is already terminal. An order this
    API placed is waited for (read-your-writes); one placed elsewhere is a 404 until the projection has it."""
    order = known_order(res, principal, order_id, latest=False)
    _live(order, "cancel")
    origin = res.origin()
    with res.pool.connection() as conn:
        correlation_id = _correlation_id(conn, order_id)
    record = commands.cancel_order(order.account, order_id, order.symbol, origin, correlation_id)
    delivered, _ = produce_order_command(res, CANCEL_ORDER, record)
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
    res: Res,
    principal: Annotated[Principal, Depends(allowed(Action.AMEND_ORDER))],
) -> OrderCommandAccepted:
    """Writes an AmendOrder command; 409 when the order is terminal or the new quantity is below what is
    already filled (the OMS would refuse it with the same reason)."""
    order = known_order(res, principal, order_id, latest=False)
    _live(order, "amend")
    if body.quantity is not None and quantity_fp(body.quantity) < order.cum_quantity:
        raise ApiProblem(
            409,
            f"quantity {body.quantity} is below the filled quantity",
            "AMEND_BELOW_FILLED",
            {"cum_quantity": text(order.cum_quantity, "quantity")},
        )
    origin = res.origin()
    with res.pool.connection() as conn:
        correlation_id = _correlation_id(conn, order_id)
    record = commands.amend_order(order.account, order_id, body, origin, correlation_id)
    delivered, _ = produce_order_command(res, AMEND_ORDER, record)
    return OrderCommandAccepted(
        order_id=order_id,
        event_id=origin.event_id,
        topic=delivered.topic,
        partition=delivered.partition,
        offset=delivered.offset,
    )
