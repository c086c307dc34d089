"""An order's audit: its whole causal story read from the topics (connectors/audit), not from a projection.

Same rules as the other order reads: any role may read; an order of an account the key does not see is the same
404 as an unknown one, so a key cannot probe other accounts' order ids.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Reader, Res
from api.errors import ApiProblem, responses
from api.routes.orders import OrderId
from connectors.audit.fetch import MissingRecords
from connectors.audit.index import LogUnavailable
from connectors.audit.read import UnknownOrder, audit_order

router = APIRouter(prefix="/v1/orders", tags=["queries"])


class AuditLine(BaseModel):
    topic: str
    partition: int
    offset: int
    timestamp_us: int = Field(description="The record's broker timestamp, in microseconds.")
    kind: str = Field(description="command, risk_decision, order_event, venue_order, execution or position.")
    summary: str
    record: dict[str, Any] = Field(description="The record as decoded from the log (a union with its `schema`).")


class OrderAuditPublic(BaseModel):
    order_id: str
    account: str
    lines: list[AuditLine] = Field(description="Every record of the order, in causal order.")
    children: list[OrderAuditPublic] = Field(description="Child orders (parent_order_id = this order), nested.")
    truncated: bool = Field(default=False, description="Child orders deeper than 8 levels were left out.")


@router.get(
    "/{order_id}/audit",
    response_model=OrderAuditPublic,
    summary="One order's causal story from the log",
    responses=responses(401, 403, 404, 429, 503),
)
def get_order_audit(order_id: OrderId, principal: Reader, res: Res) -> OrderAuditPublic:
    """Every record of the order in causal order (command, risk decision with each check, OMS transitions, venue
    acknowledgements and fills, position changes), each with its topic, partition and offset; child orders
    (records naming it as parent_order_id) nested under ``children``."""
    try:
        audit = audit_order(res.config.settings, order_id)
    except UnknownOrder:
        raise ApiProblem(404, f"no record of the log names order {order_id}", "UNKNOWN_ORDER") from None
    except MissingRecords as error:
        detail = f"the log no longer holds records of order {order_id}: {error}"
        raise ApiProblem(503, detail, "LOG_INCOMPLETE") from None
    except LogUnavailable as error:
        detail = f"broker unavailable: {error}"
        raise ApiProblem(503, detail, "BROKER_UNAVAILABLE", headers={"Retry-After": "1"}) from None
    if not principal.sees(audit.account):
        raise ApiProblem(404, f"no record of the log names order {order_id}", "UNKNOWN_ORDER")
    return OrderAuditPublic.model_validate(audit.as_json())
