"""While the database or the broker is away, routes answer 503 with a clear body and Retry-After, never 500;
once it is back they answer as before. Over real HTTP, with the shared servers left running: the database goes
away behind a TCP proxy the test cuts, the broker is a closed port."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from _api_server import RunningApi, serve_api
from _seed import SeededOrder, seed_orders
from _tcp_proxy import TcpProxy, tcp_proxy
from conftest import OWN, Keys
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.auth import Role, token_for
from settings import Settings

pytestmark = pytest.mark.integration

SECRET = b"outage-test-secret-of-32-bytes-or-more"
ORDER = {"account": OWN, "symbol": "BTCUSDT", "side": "buy", "type": "limit", "quantity": "1", "price": "100"}


def _admin_token() -> dict[str, str]:
    """A bearer token: verifying it needs no database, so the routes' own reads are what meets the outage."""
    return {"Authorization": f"Bearer {token_for('ops', Role.ADMIN, ['*'], SECRET, int(time.time()) + 600)}"}


def _assert_503(response: httpx.Response, reason: str, *hidden: str) -> None:
    assert response.status_code == 503, (response.request.method, response.request.url, response.text[:300])
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["reason"] == reason
    assert body["detail"].startswith("broker unavailable" if reason == "BROKER_UNAVAILABLE" else "database unavail")
    for text in hidden:
        assert text not in response.text


@contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting to it is refused, and no one else can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def seeded(api_settings: Settings) -> dict[str, SeededOrder]:
    return seed_orders(api_settings, "outage", (OWN,))[OWN]


# -- the database away --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def db_proxy(api_database: str) -> Iterator[TcpProxy]:
    target = conninfo_to_dict(api_database)
    with tcp_proxy(str(target.get("host", "127.0.0.1")), int(str(target.get("port", 5432)))) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def api_via_proxy(api_settings: Settings, api_database: str, db_proxy: TcpProxy) -> Iterator[RunningApi]:
    proxied = make_conninfo(api_database, host="127.0.0.1", port=str(db_proxy.port))
    with serve_api(api_settings.with_database_url(proxied), jwt_secret=SECRET) as api:
        yield api


def _database_reads(seeded: dict[str, SeededOrder]) -> list[tuple[str, str, dict[str, Any] | None]]:
    live = seeded["live"].order_id
    return [
        ("GET", "/v1/orders", None),
        ("GET", f"/v1/orders/{live}", None),
        ("GET", f"/v1/orders/{live}/events", None),
        ("GET", "/v1/fills", None),
        ("GET", "/v1/positions", None),
        ("GET", f"/v1/positions/{OWN}", None),
        ("DELETE", f"/v1/orders/{live}", None),  # looks the order up before producing
        ("PATCH", f"/v1/orders/{live}", {"price": "101"}),
    ]


def test_routes_answer_503_while_the_database_is_away_then_recover(
    api_via_proxy: RunningApi, db_proxy: TcpProxy, keys: Keys, seeded: dict[str, SeededOrder]
) -> None:
    with httpx.Client(base_url=api_via_proxy.base_url, headers=_admin_token(), timeout=30) as client:
        assert client.get("/v1/orders").status_code == 200  # a pooled connection, about to break
        db_proxy.cut()
        try:
            for method, path, body in _database_reads(seeded):
                _assert_503(client.request(method, path, json=body), "DATABASE_UNAVAILABLE", str(db_proxy.port))
            # An API key is looked up in the database: its verification meets the outage too.
            by_key = httpx.get(f"{api_via_proxy.base_url}/v1/risk/limits/{OWN}", headers={"X-API-Key": keys.risk_own})
            _assert_503(by_key, "DATABASE_UNAVAILABLE", str(db_proxy.port))
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["postgres"].startswith("unavailable")
            health = client.get("/v1/health")
            assert health.status_code == 503 and health.json()["checks"]["postgres"].startswith("unavailable")
            assert health.json()["projections"] == []
        finally:
            db_proxy.restore()
        deadline = time.monotonic() + 30
        while client.get("/v1/orders").status_code != 200:
            assert time.monotonic() < deadline, "the API did not recover within 30 s of the database's return"
            time.sleep(0.1)
        after = {
            path: client.request(method, path, json=body).status_code for method, path, body in _database_reads(seeded)
        }
        assert set(after.values()) <= {200, 202}, after


def test_a_database_on_a_closed_port_is_503_on_every_database_route(
    api_settings: Settings, keys: Keys, seeded: dict[str, SeededOrder]
) -> None:
    with _closed_port() as port:
        unreachable = api_settings.with_database_url(f"postgresql://nobody:secret@127.0.0.1:{port}/none")
        with (
            serve_api(unreachable, migrate_on_start=False, jwt_secret=SECRET) as api,
            httpx.Client(base_url=api.base_url, headers=_admin_token(), timeout=30) as client,
        ):
            for method, path, body in _database_reads(seeded):
                _assert_503(client.request(method, path, json=body), "DATABASE_UNAVAILABLE", "nobody", "secret")
            by_key = httpx.get(f"{api.base_url}/v1/orders", headers={"X-API-Key": keys.read_only}, timeout=30)
            _assert_503(by_key, "DATABASE_UNAVAILABLE", "nobody", "secret")


# -- the broker away ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_without_broker(api_settings: Settings, seeded: dict[str, SeededOrder]) -> Iterator[RunningApi]:
    with _closed_port() as port:
        no_broker = replace(api_settings, external_kafka=f"127.0.0.1:{port}")
        # The database is migrated already (the module's fixture did it); readiness would wait for the broker.
        with serve_api(no_broker, migrate_on_start=False, broker_timeout_s=1.0) as api:
            yield api


def test_routes_answer_503_while_the_broker_is_away(
    api_without_broker: RunningApi, keys: Keys, seeded: dict[str, SeededOrder]
) -> None:
    live = seeded["live"].order_id
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/orders", ORDER),
        ("DELETE", f"/v1/orders/{live}", None),
        ("PATCH", f"/v1/orders/{live}", {"price": "101"}),
        ("POST", "/v1/risk/kill-switch", {"scope": "account", "target": OWN}),
        ("DELETE", f"/v1/risk/kill-switch?scope=account&target={OWN}", None),
        ("PUT", f"/v1/risk/limits/{OWN}", {"max_open_orders": 5}),
        ("GET", f"/v1/risk/limits/{OWN}", None),
        ("GET", "/v1/stream/orders", None),
        ("GET", "/v1/books/BTCUSDT", None),  # the market views never reached the broker
        ("GET", "/v1/analytics/BTCUSDT", None),
    ]

    def call(request: tuple[str, str, dict[str, Any] | None]) -> httpx.Response:
        method, path, body = request
        headers = {"X-API-Key": keys.admin}
        return httpx.request(method, api_without_broker.base_url + path, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:  # at once: the slow ones overlap
        answers = list(pool.map(call, requests))
    for answer in answers:
        _assert_503(answer, "BROKER_UNAVAILABLE")
    assert "may or may not be in the log" in answers[0].json()["detail"]  # a command: its fate is unknown
    with httpx.Client(base_url=api_without_broker.base_url, headers={"X-API-Key": keys.admin}, timeout=30) as client:
        assert client.get(f"/v1/orders/{live}").status_code == 200  # reads of the projections go on
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"].startswith("unavailable")
        health = client.get("/v1/health")
        assert health.status_code == 503 and health.json()["checks"]["kafka"].startswith("unavailable")
