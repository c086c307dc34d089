"""Market views with a long md.depth history behind them, over real HTTP and through `sq book` / `sq analytics`.

``SQ_TEST_MARKET_VIEW_RECORDS`` md.depth records (default 1,000,000; set it lower for a quick run) of one
symbol, a trade every 100 of them, the orderbook processor (the Kafka engine) applying them all, then an API
started only afterwards: its first answers must already be the processor's state, which the same history
applied to an ``OrderBookCore`` in this process gives. No time is asserted (bench/market_views.py measures).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from _api_server import RunningApi, serve_api
from conftest import Keys

from bench.market_views import Expected, market_history, produce, run_orderbook
from connectors.marketdata.views import (
    BOOK_PARTITIONS,
    MarketViews,
    NoMarketData,
    ViewNotReady,
    book_view,
    latest_analytics,
)
from processors.runtime.changelog import state_partition
from settings import Settings
from sq.cli import main as sq_main

pytestmark = pytest.mark.integration

RECORDS = int(os.environ.get("SQ_TEST_MARKET_VIEW_RECORDS", "1000000"))
BUSY = "VIEWBTC"
ABSENT = "NOSUCHSYM"


def _same_partition_as(symbol: str, prefix: str) -> str:
    """A symbol whose changelog records share ``symbol``'s partition (so they lie behind its history there)."""
    target = state_partition(symbol, BOOK_PARTITIONS)
    return next(f"{prefix}{n}" for n in range(1000) if state_partition(f"{prefix}{n}", BOOK_PARTITIONS) == target)


QUIET = _same_partition_as(BUSY, "QUIET")  # a short history, written before BUSY's long one


@dataclass
class Market:
    settings: Settings
    expected: Expected


@pytest.fixture(scope="module")
def market(api_settings: Settings) -> Market:
    expected = Expected()
    produced = produce(api_settings, market_history(QUIET, 3000), expected)
    produced += produce(api_settings, market_history(BUSY, RECORDS), expected)
    run_orderbook(api_settings, produced)
    return Market(api_settings, expected)


@pytest.fixture(scope="module")
def api(market: Market) -> Iterator[RunningApi]:
    """Started after the processor applied the whole history: nothing of it was seen live."""
    with serve_api(market.settings, rate_per_second=100_000.0, rate_burst=100_000) as running:
        yield running


def _client(api: RunningApi, keys: Keys) -> httpx.Client:
    return httpx.Client(base_url=api.base_url, headers={"X-API-Key": keys.risk}, timeout=15)


def _until_known(get: Callable[[], httpx.Response], timeout_s: float = 60.0) -> httpx.Response:
    """The first answer that is not VIEW_NOT_READY (each of those must say so, with Retry-After)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = get()
        if response.status_code != 503:
            return response
        assert response.json()["reason"] == "VIEW_NOT_READY" and response.headers["Retry-After"] == "1"
        assert time.monotonic() < deadline, response.text
        time.sleep(0.1)


def test_right_after_start_book_and_analytics_are_the_processors(api: RunningApi, keys: Keys, market: Market) -> None:
    with _client(api, keys) as client:
        for depth in (10, 1000):
            response = client.get(f"/v1/books/{BUSY}", params={"depth": depth})
            assert response.status_code == 200, response.text
            assert response.json() == market.expected.book(BUSY, depth)
        response = client.get(f"/v1/analytics/{BUSY}")
    assert response.status_code == 200, response.text
    body = response.json()
    want = market.expected.analytics[BUSY]
    assert body["window_end_us"] == want["window_end_us"] and body["venue"] == want["venue"]
    assert {name: body[name] for name in want if name in body and name != "meta"} == {
        name: value for name, value in want.items() if name in body
    }
    assert body["windows"] >= 1


def test_a_symbol_behind_the_tail_is_looked_up_and_correct(api: RunningApi, keys: Keys, market: Market) -> None:
    with _client(api, keys) as client:
        book = _until_known(lambda: client.get(f"/v1/books/{QUIET}", params={"depth": 100}))
        analytics = _until_known(lambda: client.get(f"/v1/analytics/{QUIET}"))
    assert book.status_code == 200, book.text
    assert book.json() == market.expected.book(QUIET, 100)
    assert analytics.status_code == 200, analytics.text
    assert analytics.json()["window_end_us"] == market.expected.analytics[QUIET]["window_end_us"]


def test_an_unknown_symbol_is_a_precise_404(api: RunningApi, keys: Keys) -> None:
    with _client(api, keys) as client:
        for path in (f"/v1/books/{ABSENT}", f"/v1/analytics/{ABSENT}"):
            response = _until_known(lambda path=path: client.get(path))  # type: ignore[misc]
            assert response.status_code == 404, response.text
            assert response.json()["reason"] == "NO_MARKET_DATA" and ABSENT in response.json()["detail"]


def test_views_follow_the_processor_live(api: RunningApi, keys: Keys, market: Market) -> None:
    more = 300
    produced = produce(market.settings, market_history(BUSY, more, first_update=RECORDS + 1), market.expected)
    run_orderbook(market.settings, produced)
    want = market.expected.book(BUSY, 20)
    with _client(api, keys) as client:
        deadline = time.monotonic() + 60
        while (body := client.get(f"/v1/books/{BUSY}", params={"depth": 20}).json())["sequence"] != want["sequence"]:
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
    assert body == want


def test_a_view_started_with_a_one_record_tail_reaches_back(market: Market) -> None:
    """The same views in process, with the shortest tail: every symbol but the very last is found by reaching
    back, and each answers what the processor holds."""
    views = MarketViews(market.settings, tail_records=1)
    views.start()
    try:
        assert views.wait_settled(60)
        deadline = time.monotonic() + 60
        while True:
            try:
                book = views.book(QUIET, 5)
                break
            except ViewNotReady:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert book == market.expected.book(QUIET, 5)
    finally:
        views.close()


def test_the_cli_reads_the_latest_state_once(
    market: Market, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert book_view(market.settings, BUSY, 7) == market.expected.book(BUSY, 7)
    assert (
        latest_analytics(market.settings, QUIET)["window_end_us"] == market.expected.analytics[QUIET]["window_end_us"]
    )
    with pytest.raises(NoMarketData):
        book_view(market.settings, ABSENT, 7)
    for name, value in market.settings.as_env().items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert sq_main(["book", QUIET, "--depth", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == market.expected.book(QUIET, 3)
    assert sq_main(["analytics", BUSY, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["window_end_us"] == market.expected.analytics[BUSY]["window_end_us"]
    assert sq_main(["book", ABSENT]) == 2
    assert "no book of" in capsys.readouterr().err
