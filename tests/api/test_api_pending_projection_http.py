"""Read-your-writes past its bound, over real HTTP: no processor answers the commands here, so the API says what
it knows (the command's id and place in the log, "pending projection") instead of a 404."""

from __future__ import annotations

import httpx
import pytest
from _api_server import serve_api
from conftest import OWN, Keys

from settings import Settings

pytestmark = pytest.mark.integration

WAIT_S = 0.2
ORDER = {"account": OWN, "symbol": "BTCUSDT", "side": "buy", "type": "limit", "quantity": "1", "price": "100"}


def test_an_order_placed_here_but_never_projected_is_a_409_pending_projection_not_a_404(
    api_settings: Settings, keys: Keys
) -> None:
    with serve_api(api_settings, projection_wait_s=WAIT_S, rate_per_second=1_000.0) as api:
        with httpx.Client(base_url=api.base_url, headers={"X-API-Key": keys.trader}, timeout=10) as trader:
            placed = trader.post("/v1/orders", json=ORDER).json()
            read = trader.get(f"/v1/orders/{placed['order_id']}")
            cancel = trader.delete(f"/v1/orders/{placed['order_id']}")
            waited = trader.post("/v1/orders", params={"wait": "decision"}, json=ORDER)
        with httpx.Client(base_url=api.base_url, headers={"X-API-Key": keys.other_trader}, timeout=10) as other:
            foreign = other.get(f"/v1/orders/{placed['order_id']}")  # not its account: never waited for
    for answer in (read, cancel):
        assert answer.status_code == 409 and answer.headers["Retry-After"] == "1"
        assert answer.json()["reason"] == "PENDING_PROJECTION"
        assert answer.json()["extra"] == {
            "order_id": placed["order_id"],
            "command": "NewOrder",
            "command_id": placed["event_id"],
            "topic": placed["topic"],
            "partition": placed["partition"],
            "offset": placed["offset"],
            "pending_projection": True,
            "order": None,
        }
    assert waited.status_code == 202
    assert (waited.json()["pending_projection"], waited.json()["order"]) == (True, None)
    assert foreign.status_code == 404 and foreign.json()["reason"] == "UNKNOWN_ORDER"
