"""Authentication, rate limiting, health, metrics and the OpenAPI document, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from _api_server import RunningApi, serve_api
from conftest import OTHER, OWN, ApiEnv, Keys
from prometheus_client.parser import text_string_to_metric_families

from api import key_store
from api.auth import Role, encode_jwt, token_for
from settings import Settings

pytestmark = pytest.mark.integration

SECRET = b"test-secret-of-at-least-32-bytes!!"
BURST = 3


@pytest.fixture(scope="module")
def strict_api(api_settings: Settings, keys: Keys) -> Iterator[RunningApi]:
    """A second API on the same topics and database: JWTs enabled, and a small rate limit (3, then 1 per 2 s)."""
    with serve_api(api_settings, jwt_secret=SECRET, rate_per_second=0.5, rate_burst=BURST) as api:
        yield api


def _get(api: RunningApi, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(api.base_url + path, headers=headers or {}, timeout=10)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "sqk_000000000000_" + "x" * 43},  # well formed, unknown
        {"X-API-Key": "not-a-key"},
        {"Authorization": "Bearer sqk_000000000000_" + "y" * 43},
        {"Authorization": "Bearer not.a.jwt"},  # JWTs are not enabled on this server
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["none", "unknown key", "malformed key", "unknown key as bearer", "jwt when disabled", "basic auth"],
)
@pytest.mark.parametrize("path", ["/v1/orders", f"/v1/positions/{OWN}", f"/v1/risk/limits/{OWN}"])
def test_requests_without_valid_credentials_are_401(api_env: ApiEnv, headers: dict[str, str], path: str) -> None:
    response = _get(api_env.api, path, headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["reason"] == "UNAUTHENTICATED"


def test_a_revoked_key_stops_working_once_its_cached_verdict_expires(api_settings: Settings, api_database: str) -> None:
    with psycopg.connect(api_database, autocommit=True) as conn, serve_api(api_settings, key_cache_ttl_s=0.3) as api:
        new = key_store.create_key(conn, Role.READ_ONLY, [OWN])
        assert _get(api, "/v1/orders", {"X-API-Key": new.key}).status_code == 200
        assert key_store.revoke_key(conn, new.key_id)
        revoked_at = time.monotonic()
        while _get(api, "/v1/orders", {"X-API-Key": new.key}).status_code != 401:
            assert time.monotonic() - revoked_at < 5, "the revoked key was still accepted after 5 s"
            time.sleep(0.05)
    assert time.monotonic() - revoked_at < 1.0


def test_jwt_bearer_tokens_carry_role_and_accounts(strict_api: RunningApi) -> None:
    token = token_for("alice", Role.TRADER, [OWN], SECRET, int(time.time()) + 60)
    bearer = {"Authorization": f"Bearer {token}"}
    assert _get(strict_api, f"/v1/positions/{OWN}", bearer).status_code == 200
    assert _get(strict_api, f"/v1/positions/{OTHER}", bearer).status_code == 403
    expired = encode_jwt({"sub": "bob", "role": "admin", "accounts": ["*"], "exp": int(time.time()) - 120}, SECRET)
    forged = encode_jwt({"sub": "eve", "role": "admin", "accounts": ["*"], "exp": int(time.time()) + 60}, b"z" * 32)
    for bad in (expired, forged):
        assert _get(strict_api, f"/v1/positions/{OWN}", {"Authorization": f"Bearer {bad}"}).status_code == 401


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(strict_api: RunningApi, keys: Keys) -> None:
    headers = {"X-API-Key": keys.other_trader}  # a key no other test of this server uses
    statuses = [_get(strict_api, f"/v1/positions/{OTHER}", headers) for _ in range(BURST + 1)]
    assert [r.status_code for r in statuses] == [200] * BURST + [429]
    refused = statuses[-1]
    assert refused.json()["reason"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 2  # one token back at 0.5/s
    assert _get(strict_api, f"/v1/positions/{OWN}", {"X-API-Key": keys.admin}).status_code == 200  # per key
    assert "sq_api_rate_limited_total 1" in _get(strict_api, "/metrics").text


def test_health_readiness_and_metrics_need_no_key(api_env: ApiEnv) -> None:
    assert _get(api_env.api, "/healthz").json() == {"status": "ok", "checks": {}}
    ready = _get(api_env.api, "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["postgres"] == "ok"
    assert ready.json()["checks"]["kafka"].startswith("ok")
    health = _get(api_env.api, "/v1/health")
    assert health.status_code == 200 and health.json()["checks"]["projections"] == "ok"
    (projection,) = health.json()["projections"]
    assert projection["name"] == "postgres" and projection["lag_records"] >= 0
    _get(api_env.api, "/v1/orders")  # one 401 to count
    metrics = _get(api_env.api, "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE sq_api_requests_total counter" in metrics.text
    assert 'sq_api_requests_total{method="GET",route="/v1/orders",status="401"}' in metrics.text
    samples = [sample for family in text_string_to_metric_families(metrics.text) for sample in family.samples]
    assert any(  # label order within the braces is the library's: compare parsed samples
        s.name == "sq_api_request_duration_seconds_bucket"
        and s.labels == {"method": "GET", "route": "/readyz", "le": "+Inf"}
        for s in samples
    )


def test_readiness_is_503_when_the_database_is_unreachable(api_settings: Settings) -> None:
    unreachable = api_settings.with_database_url("postgresql://nobody:x@127.0.0.1:9/none?connect_timeout=1")
    with serve_api(unreachable, migrate_on_start=False) as api:
        response = _get(api, "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["postgres"].startswith("unavailable")
    assert "127.0.0.1" not in response.text and "nobody" not in response.text  # no server or user to strangers


def test_the_openapi_document_describes_every_route_with_models_and_errors(api_env: ApiEnv) -> None:
    document = _get(api_env.api, "/openapi.json").json()
    operations = {(m.upper(), p): op for p, ops in document["paths"].items() for m, op in ops.items()}
    assert set(operations) >= {
        ("POST", "/v1/orders"),
        ("GET", "/v1/orders"),
        ("GET", "/v1/orders/{order_id}"),
        ("GET", "/v1/orders/{order_id}/events"),
        ("DELETE", "/v1/orders/{order_id}"),
        ("PATCH", "/v1/orders/{order_id}"),
        ("GET", "/v1/fills"),
        ("GET", "/v1/positions"),
        ("GET", "/v1/positions/{account}"),
        ("POST", "/v1/risk/kill-switch"),
        ("DELETE", "/v1/risk/kill-switch"),
        ("PUT", "/v1/risk/limits/{account}"),
        ("GET", "/v1/risk/limits/{account}"),
        ("GET", "/v1/stream/orders"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/v1/health"),
        ("GET", "/metrics"),
    }
    for (method, path), operation in operations.items():
        if path.startswith("/v1/") and path != "/v1/health":  # health, like /readyz, needs no credentials
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
            assert operation.get("security"), (method, path)
        success = next(code for code in operation["responses"] if code.startswith("2"))
        assert operation["responses"][success].get("content"), (method, path)
    assert set(operations["DELETE", "/v1/orders/{order_id}"]["responses"]) >= {"202", "404", "409"}
    schemas = document["components"]["schemas"]
    assert schemas["OrderCreate"]["examples"] and schemas["OrderAccepted"]["examples"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(document["components"]["securitySchemes"])
