"""`sq book` and `sq analytics` against the real broker: depth and trades produced, the book read back."""

from __future__ import annotations

import json

import pytest
from _book_builders import MS, T0, P, Q, snapshot, trade, update

from bench.market_views import run_orderbook
from settings import Settings
from sq.cli import main
from topics.client import AvroProducer

pytestmark = pytest.mark.integration


@pytest.fixture
def market(catalogue_topics: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in catalogue_topics.as_env().items():
        monkeypatch.setenv(name, value)
    producer = AvroProducer(catalogue_topics)
    events = [
        snapshot(10, [(100 * P, Q), (99 * P, 2 * Q)], [(101 * P, 3 * Q)], t=T0 + 1 * MS),
        update(11, bids=[(100 * P + P // 2, Q // 4)], asks=[(101 * P, 0), (102 * P, Q)], t=T0 + 500 * MS),
        trade(101 * P, Q, "BUY", t=T0 + 600 * MS),
        trade(100 * P, Q, "SELL", t=T0 + 1_200 * MS),
        update(12, t=T0 + 1_300 * MS),  # depth past the 1 s window too: the processor publishes it then
        snapshot(5, [(10 * P, Q)], [(11 * P, Q)], t=T0 + 1 * MS, symbol="ETHUSDT"),
        update(9, t=T0 + 2 * MS, symbol="ETHUSDT"),  # 6..8 missing: stale
    ]
    for event in events:
        producer.produce(event.topic, event.key, event.schema, event.record)
    producer.flush()
    run_orderbook(catalogue_topics, len(events))  # `sq book` and `sq analytics` show what the processor holds
    return catalogue_topics


def test_book_prints_levels_as_decimal_strings(market: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["book", "BTCUSDT", "--depth", "2", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["bids"] == [["100.5", "0.25"], ["100", "1"]]
    assert document["asks"] == [["102", "1"]]
    assert document["stale"] is False
    assert document["sequence"] == 12


def test_book_says_when_it_is_stale(market: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["book", "ETHUSDT", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] is True
    assert main(["book", "ETHUSDT"]) == 0
    assert "STALE" in capsys.readouterr().out


def test_book_of_an_unknown_symbol_says_what_to_do(market: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["book", "DOGEUSDT"]) == 2
    assert "holds no book of DOGEUSDT" in capsys.readouterr().err


def test_analytics_prints_every_measure_by_name(market: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analytics", "BTCUSDT", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["window_end_us"] == T0 + 1_000 * MS
    assert document["mid"] == pytest.approx((100.5 + 102) / 2)
    assert document["trade_flow_imbalance"] == pytest.approx(1.0)  # the sell came after the window
    for name in (
        "spread",
        "microprice",
        "depth_imbalance",
        "realized_volatility",
        "vpin",
        "kyle_lambda",
        "kyle_lambda_t",
        "pin",
    ):
        assert name in document
    assert main(["analytics", "BTCUSDT"]) == 0
    assert "microprice" in capsys.readouterr().out


def test_book_before_the_processor_ever_ran_says_what_to_do(
    catalogue_topics: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No changelog topic yet: nothing to show, not a broker outage."""
    for name, value in catalogue_topics.as_env().items():
        monkeypatch.setenv(name, value)
    assert main(["book", "BTCUSDT"]) == 2
    error = capsys.readouterr().err
    assert "holds no book of BTCUSDT" in error and "orderbook processor first" in error
