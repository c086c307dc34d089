"""Every reject reason the order path can give is reachable through the running order path, in every deployment.

Not reachable by design with the simulated venue, so not here: OVERFILL (the OMS dead-letters a venue's
overfill; the matching engine never sends one), UNKNOWN_SYMBOL and VENUE_ERROR (real venue adapters'
answers) and OTHER (what readers that do not know a newer reason read it as).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from running_path import RunningPath, wait_for

from processors.risk.limits import DEFAULT_LIMITS
from schemas.names import KILL_SWITCH, TRADING_STATE_SET
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from topics.catalogue import ORDERS_EVENTS, RISK_LIMITS

pytestmark = pytest.mark.integration

PRICE = 100 * PRICE_SCALE
LOT = QUANTITY_SCALE
TIMEOUT_S = 60
TRADING_STATE = TRADING_STATE_SET


class Scenario:
    """One account and one symbol of a test's own, with its limits in force before the first order."""

    def __init__(self, path: RunningPath, **limits: Any) -> None:
        self.path = path
        self.account = f"R-{uuid.uuid4().hex[:8]}"
        self.symbol = f"S{uuid.uuid4().hex[:6].upper()}"
        record = {**DEFAULT_LIMITS.as_record(), "reference_prices": {self.symbol: PRICE}, **limits}
        path.limits(self.account, **record)
        wait_for(self._limits_applied, TIMEOUT_S, f"risk to apply {self.account}'s limits")

    def _limits_applied(self) -> bool:
        # Limits and commands are different topics: Kafka orders nothing between them, so wait until risk
        # has consumed (and so applied) the limits before the first order.
        return self.path.consumed("risk", RISK_LIMITS)

    def order(self, side: str = "BUY", quantity: int = LOT, price: int | None = PRICE, **extra: Any) -> str:
        record = self.path.new_order(self.account, self.symbol, side, quantity, price, **extra)
        return str(record["order_id"])

    def counterparty(self, side: str, quantity: int, price: int) -> str:
        """An order of another account on this symbol (it gets the same limits)."""
        other = Scenario.__new__(Scenario)
        other.path, other.account, other.symbol = self.path, f"{self.account}-X", self.symbol
        return other.order(side, quantity, price)

    def events(self, order_id: str | None = None) -> list[dict[str, Any]]:
        return self.path.records(
            ORDERS_EVENTS, lambda r: r["account"] == self.account and order_id in (None, r["order_id"])
        )

    def status(self, order_id: str, status: str) -> None:
        wait_for(lambda: any(e["status"] == status for e in self.events(order_id)), TIMEOUT_S, status)

    def reasons(self) -> set[str]:
        return {e["reject_reason"] for e in self.events() if e["reject_reason"]}


def symbol_not_allowed(s: Scenario) -> None:
    s.path.limits(s.account, **{**DEFAULT_LIMITS.as_record(), "allowed_symbols": ["NONE"]})
    wait_for(s._limits_applied, TIMEOUT_S, "the narrower limits")
    s.order()


def open_orders_twice(s: Scenario) -> None:
    s.order(price=PRICE - PRICE_SCALE)
    s.order(price=PRICE - 2 * PRICE_SCALE)


def rate_twice(s: Scenario) -> None:
    s.order(price=PRICE - PRICE_SCALE)
    s.order(price=PRICE - 2 * PRICE_SCALE)


def daily_loss(s: Scenario) -> None:
    sell = s.order("SELL", LOT, PRICE)
    s.counterparty("BUY", LOT, PRICE)
    s.status(sell, "FILLED")  # a fill with a fee: today's realized PnL is below zero

    def denied() -> bool:
        s.order(price=PRICE - PRICE_SCALE)  # risk reads the fill from orders.events: retry until it has
        return "DAILY_LOSS_LIMIT" in s.reasons()

    wait_for(denied, TIMEOUT_S, "a daily loss denial")


def kill_switch(s: Scenario) -> None:
    s.path.control(
        KILL_SWITCH,
        f"SYMBOL:{s.symbol}",
        scope="SYMBOL",
        target=s.symbol,
        active=True,
        cancel_open_orders=False,
        actor="test",
        detail="halt this symbol",
    )
    s.order()


def trading_state(state: str) -> Callable[[Scenario], None]:
    def scenario(s: Scenario) -> None:
        s.path.control(
            TRADING_STATE, f"ACCOUNT:{s.account}", account=s.account, trading_state=state, actor="test", detail=state
        )
        s.order()

    return scenario


def circuit_breaker(s: Scenario) -> None:
    for _ in range(22):  # 20 denials within the window trip the account's breaker
        s.order(quantity=2 * LOT)


def duplicate(s: Scenario) -> None:
    s.order(price=PRICE - PRICE_SCALE, client_order_id="same")
    s.order(price=PRICE - PRICE_SCALE, client_order_id="same")


def unknown_order(s: Scenario) -> None:
    s.path.cancel(s.account, "no-such-order", s.symbol)


def cancel_twice(s: Scenario) -> None:
    order = s.order(price=PRICE - PRICE_SCALE)
    s.status(order, "NEW")
    s.path.cancel(s.account, order, s.symbol)
    s.status(order, "CANCELLED")
    s.path.cancel(s.account, order, s.symbol)


def amend_below_filled(s: Scenario) -> None:
    sell = s.order("SELL", 3 * LOT, PRICE)
    s.status(sell, "NEW")
    s.counterparty("BUY", 2 * LOT, PRICE)
    s.status(sell, "PARTIALLY_FILLED")
    s.path.amend(s.account, sell, LOT)


def post_only_would_take(s: Scenario) -> None:
    s.status(s.order("SELL", LOT, PRICE), "NEW")
    s.order("BUY", LOT, PRICE, post_only=True)


SCENARIOS: dict[str, tuple[dict[str, Any], Callable[[Scenario], object]]] = {  # a drive may return what it sent
    "SYMBOL_NOT_ALLOWED": ({}, symbol_not_allowed),
    "QUANTITY_LIMIT": ({"max_order_quantity": LOT}, lambda s: s.order(quantity=2 * LOT)),
    "NOTIONAL_LIMIT": ({"max_order_notional": 1}, lambda s: s.order()),
    "POSITION_LIMIT": ({"max_position_quantity": LOT}, lambda s: s.order(quantity=2 * LOT)),
    "MAX_OPEN_ORDERS": ({"max_open_orders": 1}, open_orders_twice),
    "RATE_LIMIT": ({"orders_per_second": 1, "order_burst": 1}, rate_twice),
    "PRICE_COLLAR": ({"price_collar_bps": 100}, lambda s: s.order(price=PRICE * 2)),
    "DAILY_LOSS_LIMIT": ({"daily_loss_limit": 0}, daily_loss),
    "KILL_SWITCH": ({}, kill_switch),
    "CIRCUIT_BREAKER": ({"max_order_quantity": LOT}, circuit_breaker),
    "TRADING_HALTED": ({}, trading_state("HALTED")),
    "REDUCE_ONLY": ({}, trading_state("REDUCE_ONLY")),
    "INVALID_ORDER": ({}, lambda s: s.order(time_in_force="GTD", expire_time_us=None)),
    "DUPLICATE_CLIENT_ORDER_ID": ({}, duplicate),
    "UNKNOWN_ORDER": ({}, unknown_order),
    "INVALID_TRANSITION": ({}, cancel_twice),
    "AMEND_BELOW_FILLED": ({}, amend_below_filled),
    "POST_ONLY_WOULD_TAKE": ({}, post_only_would_take),
    "FOK_NOT_FILLABLE": ({}, lambda s: s.order(time_in_force="FOK")),
    "NO_LIQUIDITY": ({}, lambda s: s.order(price=None, time_in_force="IOC")),
}


@pytest.mark.parametrize("reason", SCENARIOS)
def test_reject_reason_is_reachable(path: RunningPath, reason: str) -> None:
    limits, drive = SCENARIOS[reason]
    scenario = Scenario(path, **limits)
    drive(scenario)
    wait_for(lambda: reason in scenario.reasons(), TIMEOUT_S, f"an order event with reason {reason}")
