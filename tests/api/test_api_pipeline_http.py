"""The whole path through the API: orders submitted over HTTP, worked by the real processors (kafka engine),
projected by the real sink, read back over HTTP: accepted → filled → positions; rejects, cancels, amends and
the kill switch."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import OTHER, OWN, ApiEnv

pytestmark = pytest.mark.integration

STARTUP_S = 120  # the first order waits for the workers to join their groups
SETTLE_S = 30


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
    return result


def _status_in(client: httpx.Client, order_id: str, statuses: set[str]) -> dict[str, Any] | None:
    response = client.get(f"/v1/orders/{order_id}")
    order: dict[str, Any] = response.json()
    return order if response.status_code == 200 and order["status"] in statuses else None


def _place(client: httpx.Client, account: str, symbol: str, side: str, quantity: str, price: str) -> str:
    body = {"account": account, "symbol": symbol, "side": side, "type": "limit", "quantity": quantity, "price": price}
    response = client.post("/v1/orders", json=body)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["order_id"]
    return order_id


def _symbol() -> str:
    return f"X{uuid.uuid4().hex[:8].upper()}"  # a symbol of the test's own: an empty book


def test_submitted_orders_are_accepted_filled_and_their_positions_visible(order_path: ApiEnv) -> None:
    symbol = _symbol()
    with order_path.client(order_path.keys.trader) as seller, order_path.client(order_path.keys.other_trader) as buyer:
        sell = _place(seller, OWN, symbol, "sell", "0.03", "60000")
        wait_for(lambda: _status_in(seller, sell, {"NEW"}), STARTUP_S, "the sell to rest")
        buy = _place(buyer, OTHER, symbol, "buy", "0.03", "60001")
        filled = wait_for(lambda: _status_in(buyer, buy, {"FILLED"}), SETTLE_S, "the buy to fill")
        assert (filled["cum_quantity"], filled["avg_price"]) == ("0.03", "60000")  # the maker's price
        assert [e["event_type"] for e in buyer.get(f"/v1/orders/{buy}/events").json()] == [
            "PENDING_NEW",
            "ACCEPTED",
            "FILLED",
        ]

        def position(client: httpx.Client, account: str) -> dict[str, Any] | None:
            rows = [p for p in client.get(f"/v1/positions/{account}").json() if p["symbol"] == symbol]
            return rows[0] if rows else None

        bought = wait_for(lambda: position(buyer, OTHER), SETTLE_S, "the buyer's position")
        sold = wait_for(lambda: position(seller, OWN), SETTLE_S, "the seller's position")
        assert (bought["quantity"], bought["avg_price"], sold["quantity"]) == ("0.03", "60000", "-0.03")
        fills = buyer.get("/v1/fills", params={"account": OTHER, "symbol": symbol}).json()["items"]
        assert [(f["order_id"], f["quantity"], f["price"]) for f in fills] == [(buy, "0.03", "60000")]
        assert buyer.get(f"/v1/orders/{sell}").status_code == 404  # the other side is not the buyer's business


def test_an_order_over_the_account_limit_is_rejected_with_risk_reason(order_path: ApiEnv) -> None:
    with order_path.client(order_path.keys.admin) as admin, order_path.client(order_path.keys.trader) as trader:
        assert admin.put(f"/v1/risk/limits/{OWN}", json={"max_order_quantity": "5"}).status_code == 202
        wait_for(lambda: admin.get(f"/v1/risk/limits/{OWN}").json()["source"] == "configured", SETTLE_S, "limits")
        order_id = _place(trader, OWN, _symbol(), "buy", "6", "100")
        rejected = wait_for(lambda: _status_in(trader, order_id, {"REJECTED"}), STARTUP_S, "the denial")
    assert (rejected["last_event_type"], rejected["last_reason"]) == ("DENIED", "QUANTITY_LIMIT")


def test_a_resting_order_is_amended_then_cancelled_and_then_refused_with_409(order_path: ApiEnv) -> None:
    with order_path.client(order_path.keys.trader) as trader:
        order_id = _place(trader, OWN, _symbol(), "buy", "1", "100")
        wait_for(lambda: _status_in(trader, order_id, {"NEW"}), STARTUP_S, "the order to rest")
        assert trader.patch(f"/v1/orders/{order_id}", json={"quantity": "2", "price": "99.5"}).status_code == 202
        replaced = wait_for(
            lambda: (o := _status_in(trader, order_id, {"NEW"})) and o["version"] == 2 and o,
            SETTLE_S,
            "the replacement",
        )
        assert (replaced["quantity"], replaced["price"], replaced["last_event_type"]) == ("2", "99.5", "REPLACED")
        assert trader.delete(f"/v1/orders/{order_id}").status_code == 202
        wait_for(lambda: _status_in(trader, order_id, {"CANCELLED"}), SETTLE_S, "the cancel")
        again = trader.delete(f"/v1/orders/{order_id}")
    assert again.status_code == 409 and again.json()["extra"]["status"] == "CANCELLED"


def test_the_kill_switch_stops_the_next_order_and_releasing_it_lets_orders_through(order_path: ApiEnv) -> None:
    account_switch = {"scope": "account", "target": OTHER, "reason": "test"}
    with order_path.client(order_path.keys.risk) as risk, order_path.client(order_path.keys.other_trader) as trader:
        assert risk.post("/v1/risk/kill-switch", json=account_switch).status_code == 202
        blocked = _place(trader, OTHER, _symbol(), "buy", "1", "100")
        denied = wait_for(lambda: _status_in(trader, blocked, {"REJECTED"}), STARTUP_S, "the denial")
        assert denied["last_reason"] == "KILL_SWITCH"
        released = risk.delete("/v1/risk/kill-switch", params={"scope": "account", "target": OTHER})
        assert released.status_code == 202
        allowed = _place(trader, OTHER, _symbol(), "buy", "1", "100")
        wait_for(lambda: _status_in(trader, allowed, {"NEW"}), SETTLE_S, "the next order to rest")


def test_an_algorithmic_parent_shows_its_children_and_a_cancel_ends_them(order_path: ApiEnv) -> None:
    symbol = _symbol()
    iceberg = {"algo": "iceberg", "display_quantity": "0.25"}
    body = {"account": OWN, "symbol": symbol, "side": "buy", "type": "limit", "quantity": "1", "price": "100"}
    with order_path.client(order_path.keys.trader) as trader:
        response = trader.post("/v1/orders", json={**body, "execution": iceberg})
        assert response.status_code == 202, response.text
        parent = response.json()["order_id"]
        assert wait_for(lambda: _status_in(trader, parent, {"NEW"}), STARTUP_S, "the parent")["venue"] == "algo:ICEBERG"
        children = wait_for(lambda: trader.get(f"/v1/orders/{parent}/children").json(), SETTLE_S, "the first slice")
        assert [(c["quantity"], c["price"], c["parent_order_id"]) for c in children] == [("0.25", "100", parent)]
        child = children[0]["order_id"]
        wait_for(lambda: _status_in(trader, child, {"NEW"}), SETTLE_S, "the slice to rest")

        assert trader.delete(f"/v1/orders/{parent}").status_code == 202
        wait_for(lambda: _status_in(trader, parent, {"CANCELLED"}), SETTLE_S, "the parent to be cancelled")
        assert _status_in(trader, child, {"CANCELLED"}), "cancelling the parent cancelled its open child"

        response = trader.post("/v1/orders", json={**body, "execution": {"algo": "vwap"}})
        unworkable = response.json()["order_id"]
        rejected = wait_for(lambda: _status_in(trader, unworkable, {"REJECTED"}), SETTLE_S, "the reject")
        assert (rejected["last_reason"], rejected["venue"]) == ("INVALID_ORDER", None)
        assert "VWAP needs end_time or params.duration_s" in rejected["last_detail"]
        assert trader.get(f"/v1/orders/{unworkable}/children").json() == []
