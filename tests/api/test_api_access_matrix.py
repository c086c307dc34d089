"""Every route, role and own or other account answers the expected status, over real HTTP.

Keys: trader and read-only keys may act on OWN only; risk and admin keys on every account. "other" means
the request names OTHER's account or one of OTHER's orders: an order of another account is a 404 exactly
like a missing one, naming another account is a 403, and a role without the right is a 403 whatever the
account.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _seed import SeededOrder, seed_orders
from conftest import OTHER, OWN, ApiEnv

pytestmark = pytest.mark.integration

# route → expected status for (trader own, trader other, read-only own, read-only other, risk, admin);
# risk and admin keys hold every account, so their answer is the same for own and other.
EXPECTED: dict[str, tuple[int, int, int, int, int, int]] = {
    "place order": (202, 403, 403, 403, 403, 202),
    "list orders of account": (200, 403, 200, 403, 200, 200),
    "get order": (200, 404, 200, 404, 200, 200),
    "get order events": (200, 404, 200, 404, 200, 200),
    "get missing order": (404, 404, 404, 404, 404, 404),
    "cancel order": (202, 404, 403, 403, 202, 202),
    "cancel missing order": (404, 404, 403, 403, 404, 404),
    "cancel filled order": (409, 404, 403, 403, 409, 409),
    "amend order": (202, 404, 403, 403, 403, 202),
    "amend missing order": (404, 404, 403, 403, 403, 404),
    "amend filled order": (409, 404, 403, 403, 403, 409),
    "list fills of account": (200, 403, 200, 403, 200, 200),
    "positions of account": (200, 403, 200, 403, 200, 200),
    "get limits": (200, 403, 200, 403, 200, 200),
    "set limits": (403, 403, 403, 403, 202, 202),
    "engage account kill switch": (403, 403, 403, 403, 202, 202),
    "release account kill switch": (403, 403, 403, 403, 202, 202),
    "stream account order events": (200, 403, 200, 403, 200, 200),
}
COLUMNS = {("trader", "own"): 0, ("trader", "other"): 1, ("read-only", "own"): 2, ("read-only", "other"): 3}


def _expected(route: str, role: str, side: str) -> int:
    row = EXPECTED[route]
    return row[4] if role == "risk" else row[5] if role == "admin" else row[COLUMNS[(role, side)]]


CASES = [
    (route, role, side)
    for route in EXPECTED
    for role in ("trader", "read-only", "risk", "admin")
    for side in ("own", "other")
]


@pytest.fixture(scope="module")
def seeded(api_env: ApiEnv) -> dict[str, dict[str, SeededOrder]]:
    return seed_orders(api_env.settings, "matrix", (OWN, OTHER))


def _request(route: str, account: str, orders: dict[str, SeededOrder]) -> tuple[str, str, dict[str, Any]]:
    live, filled = orders["live"].order_id, orders["filled"].order_id
    missing = f"no-such-order-{account}"
    order_body = {
        "account": account,
        "symbol": "BTCUSDT",
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "price": "100",
    }
    switch = {"scope": "account", "target": account, "reason": "matrix"}
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "place order": ("POST", "/v1/orders", {"json": order_body}),
        "list orders of account": ("GET", "/v1/orders", {"params": {"account": account}}),
        "get order": ("GET", f"/v1/orders/{live}", {}),
        "get order events": ("GET", f"/v1/orders/{live}/events", {}),
        "get missing order": ("GET", f"/v1/orders/{missing}", {}),
        "cancel order": ("DELETE", f"/v1/orders/{live}", {}),
        "cancel missing order": ("DELETE", f"/v1/orders/{missing}", {}),
        "cancel filled order": ("DELETE", f"/v1/orders/{filled}", {}),
        "amend order": ("PATCH", f"/v1/orders/{live}", {"json": {"quantity": "1.5"}}),
        "amend missing order": ("PATCH", f"/v1/orders/{missing}", {"json": {"quantity": "1.5"}}),
        "amend filled order": ("PATCH", f"/v1/orders/{filled}", {"json": {"price": "101"}}),
        "list fills of account": ("GET", "/v1/fills", {"params": {"account": account}}),
        "positions of account": ("GET", f"/v1/positions/{account}", {}),
        "get limits": ("GET", f"/v1/risk/limits/{account}", {}),
        "set limits": ("PUT", f"/v1/risk/limits/{account}", {"json": {"max_open_orders": 10}}),
        "engage account kill switch": ("POST", "/v1/risk/kill-switch", {"json": switch}),
        "release account kill switch": (
            "DELETE",
            "/v1/risk/kill-switch",
            {"params": {"scope": "account", "target": account}},
        ),
    }
    return requests[route]


def _status(env: ApiEnv, key: str, route: str, account: str, orders: dict[str, SeededOrder]) -> int:
    with env.client(key) as client:
        if route == "stream account order events":  # the status and headers, then hang up
            with client.stream("GET", "/v1/stream/orders", params={"account": account}) as response:
                return response.status_code
        method, path, extra = _request(route, account, orders)
        return client.request(method, path, **extra).status_code


@pytest.mark.parametrize(("route", "role", "side"), CASES, ids=[f"{r}-{o}-{s}" for r, o, s in CASES])
def test_route_answers_role_and_account_as_expected(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]], route: str, role: str, side: str
) -> None:
    account = OWN if side == "own" else OTHER
    status = _status(api_env, api_env.keys.by_role(role), route, account, seeded[account])
    assert status == _expected(route, role, side), f"{route} as {role} on {side} account"


def _order_ids(env: ApiEnv, key: str, path: str = "/v1/orders") -> Iterator[str]:
    with env.client(key) as client:
        response = client.get(path)
        assert response.status_code == 200
        body = response.json()
        yield from (item["order_id"] for item in (body["items"] if isinstance(body, dict) else body))


def test_unfiltered_lists_show_a_trader_only_its_accounts(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]
) -> None:
    own = {o.order_id for o in seeded[OWN].values()}
    other = {o.order_id for o in seeded[OTHER].values()}
    assert set(_order_ids(api_env, api_env.keys.trader)) == own
    assert set(_order_ids(api_env, api_env.keys.other_trader)) == other
    assert set(_order_ids(api_env, api_env.keys.admin)) >= own | other
    with api_env.client(api_env.keys.read_only) as client:
        positions = client.get("/v1/positions").json()
        fills = client.get("/v1/fills").json()["items"]
    assert {p["account"] for p in positions} == {OWN}
    assert {f["account"] for f in fills} == {OWN}


def test_a_risk_key_for_one_account_cannot_switch_others_or_everyone(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.risk_own) as client:
        mine = client.post("/v1/risk/kill-switch", json={"scope": "account", "target": OWN})
        theirs = client.post("/v1/risk/kill-switch", json={"scope": "account", "target": OTHER})
        everyone = client.post("/v1/risk/kill-switch", json={"scope": "global"})
        symbol = client.delete("/v1/risk/kill-switch", params={"scope": "symbol", "target": "BTCUSDT"})
    assert (mine.status_code, theirs.status_code, everyone.status_code, symbol.status_code) == (202, 403, 403, 403)
    assert theirs.json()["reason"] == "ACCOUNT_NOT_PERMITTED"
