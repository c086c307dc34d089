"""Queries over the PostgreSQL projections (connectors/postgres/read_models.py): orders, their history,
fills and positions. A key sees only its accounts: lists are filtered to them, an order of another account
is a 404 and naming another account is a 403."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError

from api.commands import micros
from api.deps import Db, Reader, Res, require_account
from api.errors import responses
from api.models import FillPublic, OrderEventPublic, OrderPublic, Page, PositionPublic, Text
from api.routes.orders import OrderId, known_order, read_known_order
from api.views import fill_public, order_event_public, order_public, position_public
from connectors.postgres import read_models
from connectors.postgres.read_models import DEFAULT_LIMIT, MAX_LIMIT
from schemas.codec import default_codec
from schemas.names import ORDER_STATUS

router = APIRouter(prefix="/v1", tags=["queries"])

ORDER_STATUSES = frozenset(default_codec().registry.get(ORDER_STATUS).parsed["symbols"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[Text | None, Query(max_length=512, description="next_cursor of the previous page.")]
From = Annotated[datetime | None, Query(alias="from", description="Inclusive start (ISO 8601 with zone).")]
To = Annotated[datetime | None, Query(alias="to", description="Exclusive end (ISO 8601 with zone).")]


def _us(moment: datetime | None) -> int | None:
    return None if moment is None else micros(moment)


@router.get(
    "/orders",
    response_model=Page[OrderPublic],
    summary="List orders, newest first",
    responses=responses(401, 403, 429, 503),
)
def list_orders(
    *,
    principal: Reader,
    conn: Db,
    account: Annotated[Text | None, Query(max_length=64)] = None,
    symbol: Annotated[Text | None, Query(max_length=32)] = None,
    status: Annotated[list[Text] | None, Query(description="One or more statuses, e.g. NEW, PARTIALLY_FILLED.")] = None,
    from_time: From = None,
    to_time: To = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrderPublic]:
    """Orders created in ``[from, to)``, filtered; page on with ``cursor``."""
    if account is not None:
        require_account(principal, account)
    statuses = [s.upper() for s in status] if status else None
    if unknown := sorted(set(statuses or ()) - ORDER_STATUSES):
        message = f"unknown status {unknown[0]}; one of {', '.join(sorted(ORDER_STATUSES))}"
        raise RequestValidationError([{"loc": ("query", "status"), "msg": message, "type": "value_error"}])
    page = read_models.list_orders(
        conn,
        account=account,
        accounts=principal.visible_accounts(),
        symbol=symbol,
        status=statuses,
        created_from_us=_us(from_time),
        created_to_us=_us(to_time),
        limit=limit,
        cursor=cursor,
    )
    return Page[OrderPublic](items=[order_public(o) for o in page.items], next_cursor=page.next_cursor)


@router.get(
    "/orders/{order_id}",
    response_model=OrderPublic,
    summary="One order's current state",
    responses=responses(401, 403, 404, 409, 429, 503),
)
async def get_order(order_id: OrderId, principal: Reader, res: Res) -> OrderPublic:
    """An order this API placed, cancelled or amended is shown once the projection holds that command's answer
    (read-your-writes: waited for, bounded; then 409 PENDING_PROJECTION with what is known)."""
    return order_public(await read_known_order(res, principal, order_id))


@router.get(
    "/orders/{order_id}/events",
    response_model=list[OrderEventPublic],
    summary="One order's history",
    responses=responses(401, 403, 404, 409, 429, 503),
)
def get_order_events(
    order_id: OrderId,
    principal: Reader,
    res: Res,
    after_sequence: Annotated[int, Query(ge=0, description="Only events after this sequence number.")] = 0,
    limit: Limit = MAX_LIMIT,
) -> list[OrderEventPublic]:
    """Every event of the order in the order it happened (sequence 1, 2, …); read-your-writes as for the order."""
    known_order(res, principal, order_id, latest=True)
    with res.pool.connection() as conn:
        rows = read_models.order_events(conn, order_id, after_sequence=after_sequence, limit=limit)
    return [order_event_public(row.event, row.sequence) for row in rows]


@router.get(
    "/orders/{order_id}/children",
    response_model=list[OrderPublic],
    summary="An algorithmic parent's child orders",
    responses=responses(401, 403, 404, 409, 429, 503),
)
def get_order_children(order_id: OrderId, principal: Reader, res: Res, limit: Limit = MAX_LIMIT) -> list[OrderPublic]:
    """The child orders the router placed for a parent (``execution`` on POST /v1/orders), in the order placed,
    each with its own status and fills; the parent's cum and average price are theirs rolled up."""
    known_order(res, principal, order_id, latest=False)
    with res.pool.connection() as conn:
        return [order_public(child) for child in read_models.child_orders(conn, order_id, limit=limit)]


@router.get(
    "/fills",
    response_model=Page[FillPublic],
    summary="List fills, newest first",
    responses=responses(401, 403, 429, 503),
)
def list_fills(
    *,
    principal: Reader,
    conn: Db,
    account: Annotated[Text | None, Query(max_length=64)] = None,
    symbol: Annotated[Text | None, Query(max_length=32)] = None,
    order_id: Annotated[Text | None, Query(max_length=128)] = None,
    from_time: From = None,
    to_time: To = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[FillPublic]:
    if account is not None:
        require_account(principal, account)
    page = read_models.list_fills(
        conn,
        account=account,
        accounts=principal.visible_accounts(),
        symbol=symbol,
        order_id=order_id,
        from_us=_us(from_time),
        to_us=_us(to_time),
        limit=limit,
        cursor=cursor,
    )
    return Page[FillPublic](items=[fill_public(f) for f in page.items], next_cursor=page.next_cursor)


@router.get(
    "/positions",
    response_model=list[PositionPublic],
    summary="Positions of every visible account",
    responses=responses(401, 403, 429, 503),
)
def list_positions(principal: Reader, conn: Db) -> list[PositionPublic]:
    rows = read_models.positions(conn, accounts=principal.visible_accounts())
    return [position_public(p) for p in rows]


@router.get(
    "/positions/{account}",
    response_model=list[PositionPublic],
    summary="One account's positions",
    responses=responses(401, 403, 429, 503),
)
def account_positions(
    account: Annotated[Text, Path(max_length=64)], principal: Reader, conn: Db
) -> list[PositionPublic]:
    require_account(principal, account)
    return [position_public(p) for p in read_models.positions(conn, account)]
