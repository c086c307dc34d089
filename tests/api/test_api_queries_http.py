"""Queries over real HTTP against projections the real sink built: orders, history, fills, positions."""

from __future__ import annotations

import pytest
from _seed import T0, SeededOrder, seed_orders
from conftest import OTHER, OWN, ApiEnv

from api.views import at

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seeded(api_env: ApiEnv) -> dict[str, dict[str, SeededOrder]]:
    return seed_orders(api_env.settings, "queries", (OWN, OTHER, "ACC-3"))


def test_an_order_shows_its_current_state_with_decimal_amounts(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]
) -> None:
    filled = seeded[OWN]["filled"]
    with api_env.client(api_env.keys.trader) as client:
        order = client.get(f"/v1/orders/{filled.order_id}").json()
    assert (order["order_id"], order["client_order_id"], order["account"]) == (
        filled.order_id,
        filled.client_order_id,
        OWN,
    )
    assert (order["status"], order["side"], order["type"], order["time_in_force"]) == ("FILLED", "buy", "limit", "gtc")
    assert (order["quantity"], order["price"], order["cum_quantity"], order["leaves_quantity"]) == (
        "2",
        "100",
        "2",
        "0",
    )
    assert (order["avg_price"], order["event_count"], order["last_event_type"]) == ("100", 3, "FILLED")


def test_an_order_history_comes_in_the_order_it_happened(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]
) -> None:
    filled = seeded[OWN]["filled"]
    with api_env.client(api_env.keys.trader) as client:
        events = client.get(f"/v1/orders/{filled.order_id}/events").json()
        later = client.get(f"/v1/orders/{filled.order_id}/events", params={"after_sequence": 2}).json()
    assert [e["event_type"] for e in events] == list(filled.event_types)
    assert [e["sequence"] for e in events] == [1, 2, 3]
    assert events[-1]["last_quantity"] == "2" and events[-1]["fee"] == "0.00001"
    assert [e["sequence"] for e in later] == [3]


def test_orders_filter_by_status_symbol_and_time_and_page_with_a_cursor(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]
) -> None:
    every = {o.order_id for orders in seeded.values() for o in orders.values()}
    with api_env.client(api_env.keys.admin) as client:
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/orders", params=params).json()
            seen += [item["order_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        filled = client.get("/v1/orders", params={"status": "filled"}).json()["items"]
        none = client.get("/v1/orders", params={"symbol": "ETHUSDT"}).json()["items"]
        first_two = client.get(
            "/v1/orders", params={"from": at(T0).isoformat(), "to": at(T0 + 20_000).isoformat()}
        ).json()["items"]
        bad_cursor = client.get("/v1/orders", params={"cursor": "not-a-cursor"})
        bad_status = client.get("/v1/orders", params={"status": ["new", "DONE"]})
    assert len(seen) == len(set(seen)) == len(every) and set(seen) == every
    assert {o["order_id"] for o in filled} == {orders["filled"].order_id for orders in seeded.values()}
    assert none == []
    assert {o["order_id"] for o in first_two} == {seeded[OWN]["live"].order_id, seeded[OWN]["filled"].order_id}
    assert bad_cursor.status_code == 422 and bad_cursor.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert bad_status.status_code == 422 and "unknown status DONE" in bad_status.json()["detail"][0]["msg"]


def test_fills_and_positions_of_an_account(api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]) -> None:
    with api_env.client(api_env.keys.trader) as client:
        fills = client.get("/v1/fills", params={"account": OWN}).json()["items"]
        positions = client.get(f"/v1/positions/{OWN}").json()
    assert [(f["order_id"], f["quantity"], f["price"], f["side"]) for f in fills] == [
        (seeded[OWN]["filled"].order_id, "2", "100", "buy")
    ]
    assert [(p["account"], p["symbol"], p["quantity"], p["cash"]) for p in positions] == [
        (OWN, "BTCUSDT", "2", "-200.00001")
    ]
