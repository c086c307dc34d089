"""Market data over real HTTP: GET /v1/books/{symbol} and GET /v1/analytics/{symbol}, from records on the
module's own md.depth / md.trades topics applied by the orderbook processor (the Kafka engine); expected values
worked out by hand from those records."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from conftest import ApiEnv

from bench.market_views import run_orderbook
from connectors.marketdata.views import MEASURES
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE, TRADE
from topics.catalogue import MD_DEPTH, MD_TRADES
from topics.client import AvroProducer

pytestmark = pytest.mark.integration

P = 100_000_000  # price scale
Q = 100_000_000  # quantity scale
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z, a whole analytics interval
SECOND = 1_000_000
SYMBOL = "MKTBTC"
STALE_SYMBOL = "MKTETH"
_ids = itertools.count(1)


def _meta(t: int) -> dict[str, Any]:
    event_id = f"md-http-{next(_ids)}"
    return {
        "event_id": event_id,
        "producer": "test-feed",
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": event_id,
    }


def _levels(levels: list[tuple[int, int]]) -> list[dict[str, int]]:
    return [{"price": price, "quantity": quantity} for price, quantity in levels]


def _snapshot(symbol: str, update_id: int, t: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> Any:
    return (
        MD_DEPTH,
        symbol,
        DEPTH_SNAPSHOT,
        {
            "meta": _meta(t),
            "venue": "test",
            "symbol": symbol,
            "last_update_id": update_id,
            "bids": _levels(bids),
            "asks": _levels(asks),
        },
    )


def _update(
    symbol: str, first: int, last: int, t: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> Any:
    return (
        MD_DEPTH,
        symbol,
        DEPTH_UPDATE,
        {
            "meta": _meta(t),
            "venue": "test",
            "symbol": symbol,
            "first_update_id": first,
            "last_update_id": last,
            "previous_last_update_id": None,
            "bids": _levels(bids),
            "asks": _levels(asks),
        },
    )


def _trade(symbol: str, t: int, price: int, quantity: int, aggressor: str) -> Any:
    return (
        MD_TRADES,
        symbol,
        TRADE,
        {
            "meta": _meta(t),
            "venue": "test",
            "symbol": symbol,
            "trade_id": f"t{next(_ids)}",
            "price": price,
            "quantity": quantity,
            "aggressor": aggressor,
        },
    )


@pytest.fixture(scope="module")
def market(api_env: ApiEnv) -> None:
    producer = AvroProducer(api_env.settings)
    records = [
        _snapshot(
            SYMBOL,
            10,
            T0,
            bids=[(1005 * P // 10, 125 * Q // 100), (100 * P, 2 * Q)],
            asks=[(101 * P, Q // 2), (102 * P, 3 * Q)],
        ),
        _trade(SYMBOL, T0 + SECOND // 5, 101 * P, Q // 4, "BUY"),
        # Past the 1 s boundary: with the depth at 1.5 s both inputs passed it, so the processor closes it.
        _trade(SYMBOL, T0 + 6 * SECOND // 5, 102 * P, Q // 4, "BUY"),
        # At T0 + 0.5 s: the ask at 101 goes, a bid appears at 100.75; the book at the 1 s boundary.
        _update(SYMBOL, 11, 12, T0 + SECOND // 2, bids=[(10075 * P // 100, Q // 10)], asks=[(101 * P, 0)]),
        # At T0 + 1.5 s: more size at 102 (what the book shows now, after the boundary).
        _update(SYMBOL, 13, 13, T0 + 3 * SECOND // 2, bids=[], asks=[(102 * P, 4 * Q)]),
        _snapshot(STALE_SYMBOL, 50, T0, bids=[(10 * P, Q)], asks=[(11 * P, Q)]),
        _update(STALE_SYMBOL, 60, 61, T0 + SECOND, bids=[(10 * P, 2 * Q)], asks=[]),  # 51..59 missing: a gap
    ]
    for topic, key, schema, record in records:
        producer.produce(topic, key, schema, record)
    producer.flush()
    run_orderbook(api_env.settings, len(records))
    # The API started before the processor created its changelog (404 NO_MARKET_DATA: nothing of the symbol);
    # it looks for it once a second, then answers VIEW_NOT_READY until it read it.
    with api_env.client(api_env.keys.risk) as client:
        deadline = time.monotonic() + 60
        for path in (f"/v1/books/{SYMBOL}", f"/v1/analytics/{SYMBOL}"):
            while (response := client.get(path)).status_code in (404, 503):
                assert response.json()["reason"] in ("NO_MARKET_DATA", "VIEW_NOT_READY"), response.text
                assert time.monotonic() < deadline, response.text
                time.sleep(0.1)


def test_book_has_the_best_levels_as_decimal_strings(api_env: ApiEnv, market: None) -> None:
    with api_env.client(api_env.keys.read_only) as client:
        response = client.get(f"/v1/books/{SYMBOL}", params={"depth": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["symbol"] == SYMBOL
    assert body["bids"] == [["100.75", "0.1"], ["100.5", "1.25"]]
    assert body["asks"] == [["102", "4"]]
    assert (body["stale"], body["sequence"], body["venue"]) == (False, 13, "test")


def test_book_after_a_gap_is_stale(api_env: ApiEnv, market: None) -> None:
    with api_env.client(api_env.keys.trader) as client:
        body = client.get(f"/v1/books/{STALE_SYMBOL}").json()
    assert body["stale"] is True


def test_analytics_name_every_measure_from_the_book_at_the_last_boundary(api_env: ApiEnv, market: None) -> None:
    with api_env.client(api_env.keys.risk) as client:
        response = client.get(f"/v1/analytics/{SYMBOL}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(MEASURES) <= set(body)
    assert body["window_end_us"] == T0 + SECOND
    # the book at T0 + 1 s: best bid 100.75 x 0.1, best ask 102 x 3
    assert body["spread"] == pytest.approx(1.25)
    assert body["mid"] == pytest.approx(101.375)
    assert body["microprice"] == pytest.approx((100.75 * 3 + 102 * 0.1) / 3.1)


@pytest.mark.parametrize("path", [f"/v1/books/{SYMBOL}", f"/v1/analytics/{SYMBOL}"])
def test_market_reads_need_credentials(api_env: ApiEnv, path: str) -> None:
    with api_env.client() as client:
        assert client.get(path).status_code == 401


@pytest.mark.parametrize("role", ["trader", "risk", "admin", "read-only"])
def test_any_role_may_read_a_book(api_env: ApiEnv, market: None, role: str) -> None:
    with api_env.client(api_env.keys.by_role(role)) as client:
        assert client.get(f"/v1/books/{SYMBOL}", params={"depth": 1}).json()["bids"] == [["100.75", "0.1"]]


def test_unknown_symbol_is_404_and_a_bad_depth_is_422(api_env: ApiEnv, market: None) -> None:
    with api_env.client(api_env.keys.admin) as client:
        missing = client.get("/v1/books/NOSUCH")
        assert (missing.status_code, missing.json()["reason"]) == (404, "NO_MARKET_DATA")
        assert client.get("/v1/analytics/NOSUCH").status_code == 404
        assert client.get(f"/v1/books/{SYMBOL}", params={"depth": 0}).status_code == 422


def test_an_unknown_symbol_is_a_404_naming_it(api_env: ApiEnv, market: None) -> None:
    with api_env.client(api_env.keys.read_only) as client:
        for path in ("/v1/books/MKTNONE", "/v1/analytics/MKTNONE"):
            response = client.get(path)
            assert response.status_code == 404, response.text
            assert response.json()["reason"] == "NO_MARKET_DATA" and "MKTNONE" in response.json()["detail"]
