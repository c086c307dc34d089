"""A portfolio optimisation's rebalancing orders as NewOrder commands, built exactly as POST /v1/orders builds
them (``commands.new_order`` of an ``OrderCreate``): limit orders at the symbol's last recorded price, good till
cancelled. Used by POST /v1/accounts/{account}/optimize and `sq portfolio optimize --submit`.

A rebalancing order's client order id is derived from the plan (account, method, window end, symbol, side,
quantity, price), so submitting the same plan twice names the same orders: the OMS answers the second with
DUPLICATE_REJECTED instead of trading twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from api import commands
from api.commands import Origin
from api.models import OrderCreate
from connectors.analytics.portfolio import Optimization
from processors.analytics.portfolio import Rebalance
from processors.core import Record
from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, format_fixed

CLIENT_ORDER_PREFIX = "rebalance-"


def client_order_id(plan: Optimization, order: Rebalance) -> str:
    terms = (
        f"{plan.account}|{plan.method}|{plan.window.end_us}|{order.symbol}|{order.side}|{order.quantity}|{order.price}"
    )
    return CLIENT_ORDER_PREFIX + hashlib.sha256(terms.encode()).hexdigest()[:32]


def order_body(plan: Optimization, order: Rebalance) -> OrderCreate:
    """The order as a client would POST it (validated by the same model)."""
    return OrderCreate.model_validate(
        {
            "account": plan.account,
            "symbol": order.symbol,
            "side": order.side.lower(),
            "type": "limit",
            "quantity": format_fixed(order.quantity, QUANTITY_DECIMALS),
            "price": format_fixed(order.price, PRICE_DECIMALS),
            "time_in_force": "gtc",
            "client_order_id": client_order_id(plan, order),
        }
    )


def new_order_records(plan: Optimization, origin: Callable[[], Origin]) -> list[Record]:
    """One NewOrder record per rebalancing order of ``plan``; ``origin`` gives each its event id and time."""
    records = []
    for order in plan.orders:
        body = order_body(plan, order)
        records.append(commands.new_order(body, client_order_id(plan, order), origin()))
    return records
