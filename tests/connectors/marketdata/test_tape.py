"""The tape row format: messages round-trip exactly, recordings keep their ids, bad rows say why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from _md_builders import P, Q
from hypothesis import given
from hypothesis import strategies as st

from connectors.marketdata.binance_feed import BinanceFeed
from connectors.marketdata.messages import BookSnapshot, DepthDiff, TradePrint
from connectors.marketdata.tape import (
    MalformedRow,
    TapePlayer,
    pacing_delay_s,
    parse_row,
    row_from_emit,
    row_from_message,
)
from schemas.codec import default_codec
from topics.catalogue import DEAD_LETTERS, MD_DEPTH

amounts = st.integers(min_value=1, max_value=10**15)
levels = st.lists(st.tuples(amounts, st.integers(min_value=0, max_value=10**15)), max_size=5).map(tuple)
times = st.integers(min_value=0, max_value=2**62)
messages = st.one_of(
    st.builds(
        DepthDiff,
        st.just("BTCUSDT"),
        st.integers(1, 10**9),
        st.integers(10**9, 2 * 10**9),
        st.one_of(st.none(), st.integers(0, 10**9)),
        times,
        levels,
        levels,
    ),
    st.builds(BookSnapshot, st.just("ETHUSDT"), st.integers(1, 10**12), times, levels, levels),
    st.builds(
        TradePrint,
        st.just("BTCUSDT"),
        st.integers(1, 10**12).map(str),
        amounts,
        amounts,
        st.sampled_from(["BUY", "SELL", None]),
        times,
    ),
)


def as_csv_text(row: dict[str, Any]) -> dict[str, str]:
    """What csv.DictReader gives back for a written row: every value as text, missing as empty."""
    return {k: "" if v is None else str(v) for k, v in row.items()}


@given(messages)
def test_every_message_round_trips_through_a_row_exactly(message: Any) -> None:
    row = row_from_message("sim", message)
    assert parse_row(row).message == message
    assert parse_row(as_csv_text(row)).message == message


def test_recorded_record_replays_with_its_event_and_correlation_ids() -> None:
    feed = BinanceFeed("spot", ("BTCUSDT",), "s1")
    feed.on_frame('{"e":"depthUpdate","E":5,"s":"BTCUSDT","U":1,"u":2,"b":[["1.5","2"]],"a":[]}', 10)
    live = feed.on_snapshot("BTCUSDT", '{"lastUpdateId":1,"bids":[],"asks":[["2","1"]]}', 20).emits
    player = TapePlayer("recording/x.parquet")
    for number, emit in enumerate(live, start=1):
        row = row_from_emit(emit)
        assert row is not None
        replayed = player.play(as_csv_text(row), number, 99)
        assert replayed.topic == emit.topic and replayed.key == emit.key and replayed.schema == emit.schema
        assert replayed.record | {"meta": None} == emit.record | {"meta": None}
        assert replayed.record["meta"] | {"producer": None, "ingest_time_us": None} == emit.record["meta"] | {
            "producer": None,
            "ingest_time_us": None,
        }


def test_row_from_emit_ignores_other_topics() -> None:
    feed = BinanceFeed("spot", ("BTCUSDT",), "s1")
    assert all(row_from_emit(e) is None for e in feed.on_connected(1, "up").emits)


def test_rows_without_ids_get_stable_ids_and_updates_join_their_snapshot_epoch() -> None:
    snapshot = row_from_message("sim", BookSnapshot("BTCUSDT", 10, 1, ((P, Q),), ((2 * P, Q),)))
    update = row_from_message("sim", DepthDiff("BTCUSDT", 11, 12, 10, 2, ((P, 0),), ()))
    here, there = TapePlayer("a/tape.csv"), TapePlayer("b/tape.csv")
    first = [here.play(r, n, 5) for n, r in ((1, snapshot), (2, update))]
    elsewhere = [there.play(r, n, 6) for n, r in ((1, snapshot), (2, update))]
    assert [e.record["meta"]["event_id"] for e in first] == [e.record["meta"]["event_id"] for e in elsewhere]
    assert first[1].record["meta"]["correlation_id"] == first[0].record["meta"]["event_id"]
    codec = default_codec()
    for emit in first:
        assert emit.topic == MD_DEPTH and codec.decode(codec.encode(emit.schema, emit.record)).record == emit.record


def test_exact_parquet_decimal_and_integer_columns_are_accepted() -> None:
    row = row_from_message("sim", TradePrint("BTCUSDT", "1", P, Q, "BUY", 5))
    parsed = parse_row(row | {"price": Decimal("60000.25"), "quantity": 2})
    assert isinstance(parsed.message, TradePrint)
    assert (parsed.message.price, parsed.message.quantity) == (6_000_025_000_000, 2 * Q)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kind": "quote"}, "kind must be one of"),
        ({"kind": None}, "kind is missing"),
        ({"time_us": "soon"}, "time_us must be an integer"),
        ({"time_us": 1.5}, "time_us must be an integer"),
        ({"price": 60000.1}, "price must be a decimal string \\(exact\\), got float"),
        ({"price": "60000.123456789"}, "more than 8 decimal places"),
        ({"quantity": "0"}, "quantity must be positive"),
        ({"aggressor": "LONG"}, "aggressor must be BUY, SELL or empty"),
        ({"trade_id": ""}, "trade_id is missing"),
        ({"symbol": None}, "symbol is missing"),
    ],
)
def test_malformed_trade_rows_say_why(changes: dict[str, Any], reason: str) -> None:
    row = row_from_message("sim", TradePrint("BTCUSDT", "1", P, Q, "BUY", 5)) | changes
    with pytest.raises(MalformedRow, match=reason):
        parse_row(row)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"bids": "100.0"}, "'100.0' is not price:quantity"),
        ({"asks": "100:-1"}, "asks quantity must be non-negative"),
        ({"first_update_id": 13}, "first_update_id 13 is after last_update_id 12"),
        ({"last_update_id": None}, "last_update_id is missing"),
        ({"bids": 5}, "bids must be 'price:quantity"),
    ],
)
def test_malformed_depth_rows_say_why(changes: dict[str, Any], reason: str) -> None:
    row = row_from_message("sim", DepthDiff("BTCUSDT", 11, 12, None, 2, ((P, Q),), ())) | changes
    with pytest.raises(MalformedRow, match=reason):
        parse_row(row)


def test_malformed_row_becomes_a_dead_letter_naming_the_file_and_row() -> None:
    emit = TapePlayer("data/trades.csv").play({"kind": "trade", "time_us": "x"}, 7, 42)
    assert emit.topic == DEAD_LETTERS and emit.key == "data/trades.csv"
    record = emit.record
    assert record["reason"] == "MALFORMED_ROW" and record["detail"] == "row 7: time_us must be an integer, got 'x'"
    assert (record["source_topic"], record["source_offset"]) == ("data/trades.csv", 7)
    assert record["value"] == b'{"kind": "trade", "time_us": "x"}' and record["stage"] == "connector.file"


def test_pacing_waits_for_recorded_time_divided_by_speed() -> None:
    assert pacing_delay_s(0, 2_000_000, None, 0.0) == 0.0
    assert pacing_delay_s(0, 2_000_000, 1.0, 0.5) == 1.5
    assert pacing_delay_s(0, 2_000_000, 4.0, 0.1) == pytest.approx(0.4)
    assert pacing_delay_s(0, 2_000_000, 4.0, 3.0) == 0.0
