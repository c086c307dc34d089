"""GET /v1/orders/{id}/audit over real HTTP: the story read from the topics, the same account rules as the other
order reads, and precise 404s. The order path's workers are not needed: the API's own command is in the log."""

from __future__ import annotations

import pytest
from conftest import OWN, ApiEnv

pytestmark = pytest.mark.integration


def test_an_order_placed_over_http_has_its_command_in_its_audit_and_only_its_accounts_may_read_it(
    api_env: ApiEnv,
) -> None:
    body = {"account": OWN, "symbol": "AUDITUSDT", "side": "buy", "type": "limit", "quantity": "0.5", "price": "10"}
    with api_env.client(api_env.keys.trader) as trader:
        placed = trader.post("/v1/orders", json=body)
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["order_id"]
        response = trader.get(f"/v1/orders/{order_id}/audit")
        assert response.status_code == 200, response.text
        audit = response.json()
    assert audit["order_id"] == order_id and audit["account"] == OWN and audit["children"] == []
    (command,) = [line for line in audit["lines"] if line["kind"] == "command"]
    assert (command["topic"], command["partition"], command["offset"]) == (
        placed.json()["topic"],
        placed.json()["partition"],
        placed.json()["offset"],
    )
    assert command["record"]["order_id"] == order_id and command["record"]["quantity"] == 50_000_000
    assert command["summary"].startswith("NewOrder BUY 0.5 AUDITUSDT LIMIT @ 10 GTC")
    assert isinstance(command["timestamp_us"], int)

    with api_env.client(api_env.keys.read_only) as reader:
        assert reader.get(f"/v1/orders/{order_id}/audit").status_code == 200
    with api_env.client(api_env.keys.other_trader) as other:
        hidden = other.get(f"/v1/orders/{order_id}/audit")
    assert hidden.status_code == 404
    assert hidden.json()["reason"] == "UNKNOWN_ORDER"
    with api_env.client() as anonymous:
        assert anonymous.get(f"/v1/orders/{order_id}/audit").status_code == 401


def test_an_unknown_order_is_a_404_that_names_it(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.admin) as admin:
        response = admin.get("/v1/orders/no-such-order/audit")
    assert response.status_code == 404
    assert response.json()["reason"] == "UNKNOWN_ORDER"
    assert "no-such-order" in response.json()["detail"]
