"""Input the API cannot use, over real HTTP: NUL and lone surrogates in a path, a query or a body are a 422
naming the parameter, a forged cursor a 422, a body over the limit a 413 before it is parsed; and a sweep of
odd strings over every route that takes one never gets a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import OWN, ApiEnv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.config import DEFAULT_MAX_BODY_BYTES
from api.models import OrderCreate

pytestmark = pytest.mark.integration

ORDER: dict[str, Any] = {
    "account": OWN,
    "symbol": "BTCUSDT",
    "side": "buy",
    "type": "limit",
    "quantity": "0.5",
    "price": "100",
}
NUL_ID = "ord\x00er"


def _url(path: str, **query: str) -> str:
    """``path`` with its query, every value percent-encoded as UTF-8 (lone surrogates too, as a client could)."""
    if not query:
        return path
    pairs = (f"{name}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}" for name, value in query.items())
    return f"{path}?{'&'.join(pairs)}"


def _segment(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _json(body: Any) -> bytes:
    """JSON as Python writes it: non-ASCII escaped, so a lone surrogate travels as ``\\udxxx``."""
    return json.dumps(body).encode()


def _send(client: httpx.Client, method: str, url: str, body: Any = None) -> httpx.Response:
    if body is None:
        return client.request(method, url)
    return client.request(method, url, content=_json(body), headers={"content-type": "application/json"})


def _assert_422_naming(response: httpx.Response, *loc: str | int) -> None:
    assert response.status_code == 422, (response.status_code, response.text)
    errors = response.json()["detail"]
    assert any(tuple(error["loc"][: len(loc)]) == loc for error in errors), errors


@pytest.fixture(scope="module")
def admin(api_env: ApiEnv) -> Iterator[httpx.Client]:
    with api_env.client(api_env.keys.admin) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body", "name"),
    [
        ("GET", "/v1/orders/{}", None, "order_id"),
        ("GET", "/v1/orders/{}/events", None, "order_id"),
        ("DELETE", "/v1/orders/{}", None, "order_id"),
        ("PATCH", "/v1/orders/{}", {"quantity": "1"}, "order_id"),
        ("GET", "/v1/positions/{}", None, "account"),
        ("GET", "/v1/risk/limits/{}", None, "account"),
        ("PUT", "/v1/risk/limits/{}", {}, "account"),
        ("GET", "/v1/books/{}", None, "symbol"),
        ("GET", "/v1/analytics/{}", None, "symbol"),
    ],
)
def test_nul_in_a_path_is_422_naming_the_parameter(
    admin: httpx.Client, method: str, path: str, body: Any, name: str
) -> None:
    _assert_422_naming(_send(admin, method, path.format(_segment(NUL_ID)), body), "path", name)


def test_get_order_percent_00_is_422_not_500(admin: httpx.Client) -> None:
    """The issue's own example."""
    response = admin.get("/v1/orders/%00")
    _assert_422_naming(response, "path", "order_id")
    assert "NUL" in response.text


@pytest.mark.parametrize(
    ("method", "path", "query", "name"),
    [
        ("GET", "/v1/orders", {"account": "\x00"}, "account"),
        ("GET", "/v1/orders", {"symbol": "BTC\x00"}, "symbol"),
        ("GET", "/v1/orders", {"status": "NEW\x00"}, "status"),
        ("GET", "/v1/orders", {"cursor": "abc\x00"}, "cursor"),
        ("GET", "/v1/fills", {"order_id": NUL_ID}, "order_id"),
        ("GET", "/v1/fills", {"account": "\x00"}, "account"),
        ("GET", "/v1/fills", {"symbol": "\x00"}, "symbol"),
        ("DELETE", "/v1/risk/kill-switch", {"scope": "global", "reason": "oops\x00"}, "reason"),
        ("DELETE", "/v1/risk/kill-switch", {"scope": "account", "target": "\x00"}, "target"),
        ("GET", "/v1/stream/orders", {"account": "\x00"}, "account"),
    ],
)
def test_nul_in_a_query_is_422_naming_the_parameter(
    admin: httpx.Client, method: str, path: str, query: dict[str, str], name: str
) -> None:
    _assert_422_naming(admin.request(method, _url(path, **query)), "query", name)


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/v1/orders", {**ORDER, "client_order_id": "c\x00"}, ("body", "client_order_id")),
        ("POST", "/v1/orders", {**ORDER, "account": "\x00"}, ("body", "account")),
        ("POST", "/v1/orders", {**ORDER, "quantity": "1\x00"}, ("body", "quantity")),
        (
            "POST",
            "/v1/orders",
            {**ORDER, "execution": {"algo": "twap", "params": {"slices": "4\x00"}}},
            ("body", "execution", "params"),
        ),
        (
            "POST",
            "/v1/orders",
            {**ORDER, "execution": {"algo": "twap", "params": {"sl\x00ces": "4"}}},
            ("body", "execution", "params"),
        ),
        (
            "POST",
            "/v1/orders",
            {**ORDER, "execution": {"algo": "twap", "params": {"slices": "\udc00"}}},
            ("body", "execution", "params"),
        ),
        ("POST", "/v1/risk/kill-switch", {"scope": "global", "reason": "r\x00"}, ("body", "reason")),
        ("POST", "/v1/risk/kill-switch", {"scope": "global", "reason": "\ud800"}, ("body", "reason")),
        ("PUT", f"/v1/risk/limits/{OWN}", {"allowed_symbols": ["BTC\x00"]}, ("body", "allowed_symbols")),
        ("PUT", f"/v1/risk/limits/{OWN}", {"reference_prices": {"BTC\x00": "1"}}, ("body", "reference_prices")),
    ],
)
def test_nul_or_a_lone_surrogate_in_a_body_is_422_naming_the_field(
    admin: httpx.Client, method: str, path: str, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    _assert_422_naming(_send(admin, method, path, body), *loc)


@pytest.mark.parametrize(
    "key",
    [
        ["orders", 1, "\x00"],  # NUL in the order id part
        ["orders", 1, "\ud800"],  # a lone surrogate
        ["orders", 2**80, "x"],  # outside PostgreSQL's bigint
    ],
    ids=["nul", "surrogate", "huge"],
)
def test_a_forged_cursor_is_422(admin: httpx.Client, key: list[Any]) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    _assert_422_naming(admin.get("/v1/orders", params={"cursor": cursor}), "query", "cursor")


# -- the body limit ---------------------------------------------------------------------------------------------
def _padded(body: bytes, size: int) -> bytes:
    """``body`` followed by JSON whitespace up to ``size`` bytes: still the same document to a JSON parser."""
    return body + b" " * (size - len(body))


def _chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413, (response.status_code, response.text[:300])
    assert response.json() == {
        "detail": f"the request body is larger than {DEFAULT_MAX_BODY_BYTES} bytes",
        "reason": "BODY_TOO_LARGE",
        "extra": {"limit_bytes": DEFAULT_MAX_BODY_BYTES},
    }


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_1_mb_body_is_413_before_it_is_parsed(admin: httpx.Client, chunked: bool) -> None:
    body = _padded(_json(ORDER), 1024 * 1024)
    content = _chunks(body) if chunked else body
    response = admin.post("/v1/orders", content=content, headers={"content-type": "application/json"})
    assert ("content-length" in response.request.headers) is not chunked
    _assert_413(response)
    assert admin.get("/v1/positions").status_code == 200  # the connection and the server carry on


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_at_the_limit_is_parsed_and_one_byte_more_is_413(admin: httpx.Client, chunked: bool) -> None:
    invalid = _json({"scope": "galaxy"})  # parsed, then refused by validation: proof that it was read whole
    at_limit = _padded(invalid, DEFAULT_MAX_BODY_BYTES)
    over = _padded(invalid, DEFAULT_MAX_BODY_BYTES + 1)
    headers = {"content-type": "application/json"}
    answer = admin.post("/v1/risk/kill-switch", content=_chunks(at_limit) if chunked else at_limit, headers=headers)
    _assert_422_naming(answer, "body", "scope")
    _assert_413(admin.post("/v1/risk/kill-switch", content=_chunks(over) if chunked else over, headers=headers))


def _largest_order() -> bytes:
    """The longest valid order body: 32 algorithm parameters at their full length, in a character outside the
    basic plane, which Python's JSON writes as a 12-byte surrogate-pair escape."""
    wide = "\U0001f600"
    params = {f"{index:02d}{wide * 62}": wide * 256 for index in range(32)}
    order = {
        **ORDER,
        "client_order_id": "c" * 64,
        "venue": "v" * 64,
        "execution": {"algo": "twap", "params": params},
    }
    return _json(order)


def test_the_limit_admits_the_largest_valid_order(api_env: ApiEnv) -> None:
    body = _largest_order()
    OrderCreate.model_validate_json(body)  # valid, at every field's maximum
    assert 100_000 < len(body) <= DEFAULT_MAX_BODY_BYTES
    with api_env.client(api_env.keys.trader) as client:
        response = client.post("/v1/orders", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text[:300]


def test_a_413_is_counted_in_the_metrics(api_env: ApiEnv, admin: httpx.Client) -> None:
    _assert_413(admin.put(f"/v1/risk/limits/{OWN}", content=b"{" * (DEFAULT_MAX_BODY_BYTES + 1)))
    metrics = httpx.get(api_env.api.base_url + "/metrics", timeout=10).text
    assert 'sq_api_requests_total{method="PUT",route="unmatched",status="413"}' in metrics


# -- the sweep --------------------------------------------------------------------------------------------------
# Odd strings: any code point (NUL, controls, lone surrogates, outside the basic plane), or the characters that
# matter most, so short strings hit them often.
ODD_TEXT = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.text(st.sampled_from("\x00\x01\n\r\t %/?#&=+.:-_\\\"'\ud800\udfff\ufffd\u202e\U0001f600aA0"), max_size=12),
)


def _probes(text: str) -> list[tuple[str, str, Any]]:
    """Every route that takes a string, with ``text`` in each place a string goes (method, url, body)."""
    segment = _segment(text)
    return [
        ("GET", f"/v1/orders/{segment}", None),
        ("GET", f"/v1/orders/{segment}/events", None),
        ("DELETE", f"/v1/orders/{segment}", None),
        ("PATCH", f"/v1/orders/{segment}", {"price": "1"}),
        ("GET", f"/v1/positions/{segment}", None),
        ("GET", f"/v1/risk/limits/{segment}", None),
        ("PUT", f"/v1/risk/limits/{segment}", {"allowed_symbols": [text], "reference_prices": {text: "1"}}),
        ("GET", f"/v1/books/{segment}", None),
        ("GET", f"/v1/analytics/{segment}", None),
        ("GET", _url("/v1/orders", account=text, symbol=text, status=text), None),
        ("GET", _url("/v1/orders", cursor=text, **{"from": text}), None),
        ("GET", _url("/v1/fills", account=text, symbol=text, order_id=text), None),
        ("GET", _url("/v1/fills", cursor=text, to=text), None),
        ("DELETE", _url("/v1/risk/kill-switch", scope="account", target=text, reason=text), None),
        ("POST", "/v1/risk/kill-switch", {"scope": "account", "target": text, "reason": text}),
        ("POST", "/v1/orders", {**ORDER, "client_order_id": text, "symbol": text}),
        ("POST", "/v1/orders", {**ORDER, "quantity": text, "expire_time": text}),
        ("POST", "/v1/orders", {**ORDER, "execution": {"algo": "twap", "params": {text: text}}}),
        ("PATCH", "/v1/orders/x", {"quantity": text}),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ODD_TEXT)
def test_odd_strings_on_every_route_never_get_a_5xx(api_env: ApiEnv, admin: httpx.Client, text: str) -> None:
    for method, url, body in _probes(text):
        response = _send(admin, method, url, body)
        assert response.status_code < 500, (method, url, body, response.status_code, response.text[:300])
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/json", (method, url)
    with admin.stream("GET", _url("/v1/stream/orders", account=text)) as stream:
        assert stream.status_code < 500, (text, stream.status_code)
