"""An order's audit: its whole causal story read from the topics (connectors/audit), not from a projection.

Same rules as the other order reads: any role may read; an order of an account the key does not see is the same
404 as an unknown one, so a key cannot probe other accounts' order ids.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Reader, Res
from api.errors import ApiProblem, responses
from api.routes.orders import OrderId
from connectors.audit.fetch import MissingRecords
from connectors.audit.index import LogUnavailable
from connectors.audit.read import UnknownOrder, audit_order

router = APIRouter(prefix="/v1/orders", tags=["queries"])


@router.get(
    "/{order_id}/audit",
    summary="One order's causal story from the log",
    responses=responses(401, 403, 404, 429, 503),
)
def get_order_audit(order_id: OrderId, principal: Reader, res: Res) -> dict[str, Any]:
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
    return audit.as_json()
