"""Read-your-writes over real HTTP with the order path running (kafka engine workers, the real sink): an order
the API placed is never "not found" to it, and POST ?wait= answers with the order's state."""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from conftest import OTHER, OWN, ApiEnv

pytestmark = pytest.mark.integration

STARTUP_S = 120  # the first order waits for the workers to join their groups
SETTLE_S = 60
PAIRS = 1_000
CLIENTS = 24  # concurrent HTTP clients, each POST then at once DELETE
LIMITS = {"max_open_orders": 100_000, "max_position_quantity": "1000000", "orders_per_second": 100_000}


def _symbol() -> str:
    return f"R{uuid.uuid4().hex[:8].upper()}"  # a symbol of the test's own: an empty book


def _order(account: str, symbol: str, side: str, quantity: str = "1", price: str = "100") -> dict[str, str]:
    return {"account": account, "symbol": symbol, "side": side, "type": "limit", "quantity": quantity, "price": price}


@pytest.fixture(scope="module")
def warm_path(order_path: ApiEnv) -> ApiEnv:
    """Limits that no pair reaches, applied, and the workers past their start (an order has rested)."""
    with order_path.client(order_path.keys.admin, timeout_s=30) as admin:
        for account in (OWN, OTHER):
            assert admin.put(f"/v1/risk/limits/{account}", json=LIMITS).status_code == 202
        deadline = time.monotonic() + STARTUP_S
        while True:
            placed = admin.post("/v1/orders", params={"wait": "accepted"}, json=_order(OWN, _symbol(), "buy"))
            assert placed.status_code == 202, placed.text
            if placed.json()["order"] is not None and placed.json()["order"]["status"] == "NEW":
                break
            assert time.monotonic() < deadline, f"the order path did not start: {placed.text}"
    return order_path


def test_post_wait_accepted_answers_with_the_resting_order_and_decision_with_risks_answer(warm_path: ApiEnv) -> None:
    with warm_path.client(warm_path.keys.trader) as trader:
        accepted = trader.post("/v1/orders", params={"wait": "accepted"}, json=_order(OWN, _symbol(), "buy"))
        decided = trader.post("/v1/orders", params={"wait": "decision"}, json=_order(OWN, _symbol(), "buy"))
        denied = trader.post("/v1/orders", params={"wait": "accepted"}, json=_order(OWN, _symbol(), "buy", "2000"))
        plain = trader.post("/v1/orders", json=_order(OWN, _symbol(), "buy"))
        bogus = trader.post("/v1/orders", params={"wait": "filled"}, json=_order(OWN, _symbol(), "buy"))
    assert accepted.status_code == 202 and accepted.json()["pending_projection"] is False
    assert (accepted.json()["order"]["status"], accepted.json()["order"]["last_event_type"]) == ("NEW", "ACCEPTED")
    assert decided.status_code == 202 and decided.json()["pending_projection"] is False
    assert decided.json()["order"]["status"] in {"PENDING_NEW", "NEW"}  # risk approved it; the venue may have too
    assert (denied.json()["order"]["status"], denied.json()["order"]["last_reason"]) == ("REJECTED", "QUANTITY_LIMIT")
    assert "order" not in plain.json() and "pending_projection" not in plain.json()  # no wait: the answer as before
    assert bogus.status_code == 422 and bogus.json()["detail"][0]["loc"] == ["query", "wait"]


def test_a_get_right_after_a_delete_shows_the_cancel(warm_path: ApiEnv) -> None:
    with warm_path.client(warm_path.keys.trader) as trader:
        order_id = trader.post("/v1/orders", json=_order(OWN, _symbol(), "buy")).json()["order_id"]
        assert trader.delete(f"/v1/orders/{order_id}").status_code == 202
        after = trader.get(f"/v1/orders/{order_id}")
        events = trader.get(f"/v1/orders/{order_id}/events")
    assert after.status_code == 200 and after.json()["status"] in {"PENDING_CANCEL", "CANCELLED"}
    assert "PENDING_CANCEL" in [e["event_type"] for e in events.json()]


def _pair(env: ApiEnv, clients: dict[str, httpx.Client], n: int, symbol: str) -> dict[str, Any]:
    """POST an order, then at once DELETE it; a PENDING_PROJECTION 409 is retried as its Retry-After says."""
    # Half the orders cross (buy and sell at 100: they may fill before their cancel), half rest apart.
    account, side = (OWN, "buy") if n % 2 == 0 else (OTHER, "sell")
    price = "100" if n % 4 < 2 else ("90" if side == "buy" else "110")
    client = clients[account]
    began = time.perf_counter()
    placed = client.post("/v1/orders", json=_order(account, symbol, side, price=price))
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    answers: list[tuple[int, str | None]] = []
    while True:
        cancelled = client.delete(f"/v1/orders/{order_id}")
        reason = cancelled.json().get("reason") if cancelled.status_code != 202 else None
        answers.append((cancelled.status_code, reason))
        if reason != "PENDING_PROJECTION":
            break
        time.sleep(float(cancelled.headers["Retry-After"]))
    return {"order_id": order_id, "answers": answers, "seconds": time.perf_counter() - began}


def test_a_thousand_posts_each_cancelled_at_once_are_never_404_and_all_end_cancelled_or_filled(
    warm_path: ApiEnv,
) -> None:
    symbol = _symbol()
    keys = {OWN: warm_path.keys.trader, OTHER: warm_path.keys.other_trader}
    clients = {account: warm_path.client(key, timeout_s=30) for account, key in keys.items()}
    try:
        began = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            pairs = list(pool.map(lambda n: _pair(warm_path, clients, n, symbol), range(PAIRS)))
        elapsed = time.perf_counter() - began
    finally:
        for client in clients.values():
            client.close()

    answers = Counter(answer for pair in pairs for answer in pair["answers"])
    final = Counter(pair["answers"][-1] for pair in pairs)
    assert answers[(404, "UNKNOWN_ORDER")] == 0, answers
    assert set(final) <= {(202, None), (409, "INVALID_TRANSITION")}, final  # cancelled, or filled before the cancel
    order_ids = [pair["order_id"] for pair in pairs]
    statuses = _wait_all_final(warm_path, order_ids)
    assert set(statuses) <= {"CANCELLED", "FILLED"} and sum(statuses.values()) == PAIRS, statuses
    assert statuses["CANCELLED"] >= PAIRS // 2  # the orders that rest apart are all cancelled
    seconds = sorted(pair["seconds"] for pair in pairs)
    print(
        f"\n{PAIRS} POST→DELETE pairs, {CLIENTS} clients: {elapsed:.1f} s ({PAIRS / elapsed:.0f} pairs/s); "
        f"pair p50 {statistics.median(seconds) * 1000:.0f} ms, p99 {seconds[int(PAIRS * 0.99)] * 1000:.0f} ms; "
        f"answers {dict(answers)}; final statuses {dict(statuses)}"
    )


def _wait_all_final(env: ApiEnv, order_ids: list[str]) -> Counter[str]:
    """The orders' statuses once none is working any more (or the timeout's)."""
    deadline = time.monotonic() + SETTLE_S
    with psycopg.connect(env.settings.database_url, autocommit=True) as conn:
        while True:
            rows = conn.execute("SELECT status FROM orders WHERE order_id = ANY(%s)", (order_ids,)).fetchall()
            statuses = Counter(status for (status,) in rows)
            if sum(statuses.values()) == len(order_ids) and set(statuses) <= {"CANCELLED", "FILLED", "REJECTED"}:
                return statuses
            if time.monotonic() > deadline:
                return statuses
            time.sleep(0.2)
