"""Binance frames and REST snapshots parse to exact fixed-point messages; anything else is a MalformedFrame."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from _md_builders import T0_MS, P, Q, depth_frame, snapshot_body, trade_frame
from hypothesis import given
from hypothesis import strategies as st

from connectors.marketdata.amounts import parse_amount
from connectors.marketdata.binance_messages import (
    MARKETS,
    MalformedFrame,
    ServerShutdown,
    parse_frame,
    parse_snapshot,
    stream_names,
    venue_of,
)
from connectors.marketdata.messages import DepthDiff, TradePrint
from processors.orderbook.sequencing import BINANCE_COINM_FUTURES, BINANCE_SPOT, BINANCE_USDM_FUTURES, rule_for
from schemas.scales import format_fixed, to_fixed


def test_spot_depth_update_parses_ids_levels_and_event_time_exactly() -> None:
    frame = depth_frame(
        "BTCUSDT", 101, 105, bids=[("60000.10", "0.5"), ("59999.99", "0")], asks=[("60000.11", "1.23456789")]
    )
    parsed = parse_frame(frame, "spot")
    assert parsed == DepthDiff(
        "BTCUSDT",
        101,
        105,
        None,
        T0_MS * 1000,
        ((6_000_010_000_000, 50_000_000), (5_999_999_000_000, 0)),
        ((6_000_011_000_000, 123_456_789),),
    )


def test_futures_depth_update_keeps_pu_and_uses_transaction_time() -> None:
    parsed = parse_frame(depth_frame("ETHUSDT", 157, 160, pu=149, bids=[("3000.5", "10")]), "futures")
    assert isinstance(parsed, DepthDiff)
    assert (parsed.first_id, parsed.last_id, parsed.previous_last_id) == (157, 160, 149)
    assert parsed.time_us == (T0_MS - 1) * 1000


def test_futures_depth_update_without_pu_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="'pu' must be an integer"):
        parse_frame(depth_frame("BTCUSDT", 1, 2), "futures")


def test_coin_m_depth_update_keeps_pu_and_counts_contracts() -> None:
    """COIN-M's documented payload: a pair (``ps``) besides the symbol, quantities in contracts."""
    payload = {
        "e": "depthUpdate",
        "E": 1591270260907,
        "T": 1591270260891,
        "s": "BTCUSD_PERP",
        "ps": "BTCUSD",
        "U": 17285681,
        "u": 17285702,
        "pu": 17285675,
        "b": [["9517.6", "10"]],
        "a": [["9518.5", "45"]],
    }
    parsed = parse_frame(json.dumps({"stream": "btcusd_perp@depth@100ms", "data": payload}), "coinm")
    assert parsed == DepthDiff(
        "BTCUSD_PERP",
        17285681,
        17285702,
        17285675,
        1591270260891000,
        ((951_760_000_000, 10 * Q),),
        ((951_850_000_000, 45 * Q),),
    )
    with pytest.raises(MalformedFrame, match="'pu' must be an integer"):
        parse_frame(depth_frame("BTCUSD_PERP", 1, 2), "coinm")


def test_raw_stream_payload_without_combined_wrapper_parses_too() -> None:
    assert isinstance(parse_frame(depth_frame("BTCUSDT", 1, 2, combined=False), "spot"), DepthDiff)


def test_trade_with_buyer_as_maker_means_the_seller_aggressed() -> None:
    parsed = parse_frame(trade_frame("BTCUSDT", 42, "60000.5", "0.001", buyer_is_maker=True), "spot")
    assert parsed == TradePrint("BTCUSDT", "42", 6_000_050_000_000, 100_000, "SELL", T0_MS * 1000)
    bought = parse_frame(trade_frame("BTCUSDT", 43, "1", "2", aggregate=True), "futures")
    assert isinstance(bought, TradePrint) and bought.aggressor == "BUY" and bought.trade_id == "43"


def test_numbers_instead_of_strings_are_read_exactly_not_as_floats() -> None:
    frame = json.dumps({"e": "trade", "E": 1, "s": "BTCUSDT", "t": 1, "p": 0.1, "q": 3, "T": 1, "m": False})
    parsed = parse_frame(frame, "spot")
    assert isinstance(parsed, TradePrint) and (parsed.price, parsed.quantity) == (10_000_000, 3 * Q)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"stream": "x", "data": [1]}), "'data' must be a JSON object"),
        (json.dumps({"e": "kline", "s": "BTCUSDT"}), "unknown event type 'kline'"),
        (depth_frame("BTCUSDT", 10, 9), "U=10 is after the final update id u=9"),
        (depth_frame("BTCUSDT", 1, 2, bids=[("60000.123456789", "1")]), "more than 8 decimal places"),
        (depth_frame("BTCUSDT", 1, 2, bids=[("-1", "1")]), "bid price"),
        (depth_frame("BTCUSDT", 1, 2, asks=[("1", "-0.5")]), "ask quantity must be non-negative"),
        (depth_frame("BTCUSDT", 1, 2, asks=[("1",)]), r"must be \[price, quantity\]"),
        (depth_frame("BTCUSDT", 1, 2, asks=[("abc", "1")]), "not a decimal number"),
        (trade_frame("BTCUSDT", 1, "0", "1"), "trade price must be positive"),
        (json.dumps({"e": "trade", "E": 1, "s": "B", "t": 1, "p": "1", "q": "1", "T": 1, "m": "yes"}), "'m'"),
        (json.dumps({"e": "depthUpdate", "E": 1, "s": "B", "U": True, "u": 2, "b": [], "a": []}), "'U' must"),
    ],
)
def test_malformed_frames_say_why(frame: str, reason: str) -> None:
    with pytest.raises(MalformedFrame, match=reason):
        parse_frame(frame, "spot")


def test_subscription_answer_is_ignored_and_server_shutdown_is_recognised() -> None:
    assert parse_frame('{"result": null, "id": 1}', "spot") is None
    assert parse_frame('{"e": "serverShutdown", "E": 1}', "spot") == ServerShutdown()


def test_snapshot_parses_levels_and_prefers_venue_time() -> None:
    snapshot = parse_snapshot(snapshot_body(1027024, bids=[("4.00000000", "431.00000000")]), "BNBBTC", 5)
    assert (snapshot.last_update_id, snapshot.time_us, snapshot.bids) == (1027024, 5, ((4 * P, 431 * Q),))
    futures = json.dumps({"lastUpdateId": 7, "E": 10, "T": 9, "bids": [], "asks": []})
    assert parse_snapshot(futures, "BTCUSDT", 5).time_us == 9000


def test_snapshot_error_answer_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="-1121 Invalid symbol"):
        parse_snapshot('{"code": -1121, "msg": "Invalid symbol."}', "NOPE", 0)


def test_stream_names_use_trade_on_spot_and_aggregate_trades_on_futures() -> None:
    assert stream_names("spot", ("BTCUSDT",)) == ["btcusdt@depth@100ms", "btcusdt@trade"]
    assert stream_names("futures", ("ETHUSDT",)) == ["ethusdt@depth@100ms", "ethusdt@aggTrade"]
    assert stream_names("coinm", ("BTCUSD_PERP",)) == ["btcusd_perp@depth@100ms", "btcusd_perp@aggTrade"]


def test_each_market_has_its_venue_and_its_documented_sequencing_rule() -> None:
    assert [venue_of(m) for m in MARKETS] == ["binance-spot", "binance-futures", "binance-coinm"]
    assert [rule_for(venue_of(m)) for m in MARKETS] == [BINANCE_SPOT, BINANCE_USDM_FUTURES, BINANCE_COINM_FUTURES]


decimal_text = st.decimals(min_value=0, max_value=Decimal("92233720368"), places=8, allow_nan=False).map(str)


@given(decimal_text)
def test_fast_amount_parsing_agrees_with_the_exact_converter(text: str) -> None:
    assert parse_amount(text, 8) == to_fixed(text, 8)


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_amount_parsing_inverts_canonical_formatting(n: int) -> None:
    assert parse_amount(format_fixed(n, 8), 8) == n


@pytest.mark.parametrize("text", ["1.123456789", "1e3", "+1", " 1", "1.", "", "99999999999999999999"])
def test_fast_parser_defers_odd_forms_to_the_exact_converter(text: str) -> None:
    try:
        expected: int | str = to_fixed(text, 8)
    except ValueError as error:
        expected = str(error)
    try:
        got: int | str = parse_amount(text, 8)
    except ValueError as error:
        got = str(error)
    assert got == expected
