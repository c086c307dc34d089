"""One feed session (pure): frames in, md.depth / md.trades / md.feed.status / dead letter records out."""

from __future__ import annotations

from typing import Any

from _md_builders import T0_MS, P, Q, depth_frame, snapshot_body, trade_frame

from connectors.marketdata.binance_feed import BinanceFeed
from processors.core import Emit
from schemas.codec import default_codec
from schemas.names import DEPTH_SNAPSHOT
from topics.catalogue import DEAD_LETTERS, MD_DEPTH, MD_FEED_STATUS, MD_TRADES

NOW = T0_MS * 1000 + 5


def statuses(emits: list[Emit]) -> list[tuple[str, str]]:
    return [(e.key, e.record["status"]) for e in emits if e.topic == MD_FEED_STATUS]


def synced_feed(market: str = "spot") -> BinanceFeed:
    feed = BinanceFeed(market, ("BTCUSDT", "ETHUSDT"), "s1")  # type: ignore[arg-type]
    feed.on_connected(NOW, "connected")
    pu = 99 if market == "futures" else None
    assert feed.on_frame(depth_frame("BTCUSDT", 100, 105, pu=pu), NOW).snapshot_requests == ["BTCUSDT"]
    feed.on_snapshot("BTCUSDT", snapshot_body(103), NOW)
    return feed


def test_every_record_a_session_emits_encodes_with_the_codec() -> None:
    codec = default_codec()
    feed = BinanceFeed("futures", ("BTCUSDT",), "s1")
    emits = feed.on_connected(NOW, "up").emits
    emits += feed.on_frame(depth_frame("BTCUSDT", 100, 105, pu=99, bids=[("1.5", "2")]), NOW).emits
    emits += feed.on_snapshot("BTCUSDT", snapshot_body(103), NOW).emits
    emits += feed.on_frame(depth_frame("BTCUSDT", 106, 107, pu=104), NOW).emits  # a gap
    emits += feed.on_frame(trade_frame("BTCUSDT", 1, "1.5", "0.1", aggregate=True), NOW).emits
    emits += feed.on_frame(b"\xff\xfe", NOW).emits
    emits += feed.on_snapshot("BTCUSDT", snapshot_body(106), NOW).emits
    emits += feed.on_lost(NOW, "STALLED", "quiet").emits
    assert {e.schema.rsplit(".", 1)[1] for e in emits} == {
        "FeedStatus",
        "DepthSnapshot",
        "DepthUpdate",
        "Trade",
        "DeadLetter",
    }
    for emit in emits:
        assert codec.decode(codec.encode(emit.schema, emit.record)).record == emit.record


def test_buffered_update_goes_out_after_its_snapshot_keyed_by_symbol() -> None:
    feed = BinanceFeed("spot", ("BTCUSDT",), "s1")
    feed.on_frame(depth_frame("BTCUSDT", 101, 105, bids=[("60000.1", "0.5")]), NOW)
    out = feed.on_snapshot("BTCUSDT", snapshot_body(103, bids=[("60000", "1")], asks=[]), NOW + 7)
    snapshot, update = out.emits
    assert (snapshot.topic, snapshot.key, snapshot.schema) == (MD_DEPTH, "BTCUSDT", DEPTH_SNAPSHOT)
    assert snapshot.record["bids"] == [{"price": 60_000 * P, "quantity": Q}] and snapshot.record["asks"] == []
    assert snapshot.record["venue"] == "binance-spot" and snapshot.record["last_update_id"] == 103
    assert update.record["bids"] == [{"price": 6_000_010_000_000, "quantity": Q // 2}]
    assert (update.record["first_update_id"], update.record["last_update_id"]) == (101, 105)
    assert update.record["previous_last_update_id"] is None
    # The update belongs to the book epoch its snapshot started; times: venue event time, receive time.
    assert update.record["meta"]["correlation_id"] == snapshot.record["meta"]["event_id"]
    assert update.record["meta"]["event_time_us"] == T0_MS * 1000 and update.record["meta"]["ingest_time_us"] == NOW + 7
    assert feed.stats.snapshots == 1 and feed.stats.updates == 1 and feed.stats.resyncs == 0


def test_trade_record_and_its_id_is_the_same_whenever_the_trade_is_seen() -> None:
    first = BinanceFeed("spot", ("BTCUSDT",), "s1").on_frame(trade_frame("BTCUSDT", 9, "2", "3"), NOW).emits
    again = BinanceFeed("spot", ("BTCUSDT",), "s2").on_frame(trade_frame("BTCUSDT", 9, "2", "3"), NOW + 1).emits
    assert first[0].topic == MD_TRADES and first[0].key == "BTCUSDT"
    assert first[0].record | {"meta": None} == {
        "meta": None,
        "venue": "binance-spot",
        "symbol": "BTCUSDT",
        "trade_id": "9",
        "price": 2 * P,
        "quantity": 3 * Q,
        "aggressor": "BUY",
    }
    assert first[0].record["meta"]["event_id"] == again[0].record["meta"]["event_id"]


def test_gap_publishes_gap_detected_then_resynced_with_the_new_snapshot() -> None:
    feed = synced_feed()
    gap = feed.on_frame(depth_frame("BTCUSDT", 110, 112), NOW)
    assert statuses(gap.emits) == [("BTCUSDT", "GAP_DETECTED")] and gap.snapshot_requests == ["BTCUSDT"]
    assert "missing update ids 106..109" in gap.emits[0].record["detail"]
    resync = feed.on_snapshot("BTCUSDT", snapshot_body(111), NOW)
    assert [e.schema.rsplit(".", 1)[1] for e in resync.emits] == ["DepthSnapshot", "DepthUpdate", "FeedStatus"]
    assert statuses(resync.emits) == [("BTCUSDT", "RESYNCED")]
    assert feed.stats.gaps == 1 and feed.stats.resyncs == 1
    # A new epoch: the update after the resync correlates to the new snapshot.
    assert resync.emits[1].record["meta"]["correlation_id"] == resync.emits[0].record["meta"]["event_id"]


def test_futures_session_checks_pu() -> None:
    feed = synced_feed("futures")
    assert statuses(feed.on_frame(depth_frame("BTCUSDT", 106, 110, pu=105), NOW).emits) == []
    assert statuses(feed.on_frame(depth_frame("BTCUSDT", 111, 115, pu=109), NOW).emits) == [("BTCUSDT", "GAP_DETECTED")]


def test_lost_connection_says_so_for_every_symbol_and_every_book_resyncs() -> None:
    feed = synced_feed()
    lost = feed.on_lost(NOW, "STALLED", "no message for 30 s")
    assert statuses(lost.emits) == [("BTCUSDT", "STALLED"), ("ETHUSDT", "STALLED")]
    again = feed.on_connected(NOW, "connected")
    assert statuses(again.emits) == [("BTCUSDT", "CONNECTED"), ("ETHUSDT", "CONNECTED")]
    assert feed.on_frame(depth_frame("BTCUSDT", 200, 201), NOW).snapshot_requests == ["BTCUSDT"]
    resync = feed.on_snapshot("BTCUSDT", snapshot_body(200), NOW)
    assert resync.emits[-1].record["detail"].startswith("after stalled (no message for 30 s)")
    assert feed.stats.reconnects == 1 and feed.stats.stalls == 1 and feed.stats.resyncs == 1


def test_malformed_frame_becomes_a_dead_letter_with_its_bytes_and_the_feed_goes_on() -> None:
    feed = synced_feed()
    out = feed.on_frame('{"e": "depthUpdate", "s": "BTCUSDT"}', NOW)
    (letter,) = out.emits
    assert letter.topic == DEAD_LETTERS
    assert letter.record["reason"] == "MALFORMED_FRAME" and "'U' must be an integer" in letter.record["detail"]
    assert letter.record["value"] == b'{"e": "depthUpdate", "s": "BTCUSDT"}'
    assert letter.record["source_topic"] == "binance-spot/ws/s1" and letter.record["stage"] == "connector.binance"
    assert feed.on_frame(depth_frame("BTCUSDT", 106, 106), NOW).emits[0].topic == MD_DEPTH
    assert feed.stats.dead_letters == 1 and feed.stats.messages == 3


def test_frame_for_a_symbol_not_subscribed_is_dead_lettered() -> None:
    out = synced_feed().on_frame(trade_frame("DOGEUSDT", 1, "1", "1"), NOW)
    assert out.emits[0].topic == DEAD_LETTERS and "'DOGEUSDT' was not subscribed" in out.emits[0].record["detail"]


def test_unusable_snapshot_is_dead_lettered_and_asked_for_again() -> None:
    feed = BinanceFeed("spot", ("BTCUSDT",), "s1")
    feed.on_frame(depth_frame("BTCUSDT", 1, 2), NOW)
    out = feed.on_snapshot("BTCUSDT", '{"code": -1003, "msg": "Too many requests"}', NOW)
    assert out.emits[0].topic == DEAD_LETTERS and out.snapshot_requests == ["BTCUSDT"]
    assert feed.on_snapshot_error("BTCUSDT", NOW).snapshot_requests == ["BTCUSDT"]


def test_server_shutdown_notice_asks_for_a_reconnection() -> None:
    out = synced_feed().on_frame('{"e": "serverShutdown", "E": 1}', NOW)
    assert out.reconnect is not None and out.emits == []


# -- resync requests on md.feed.status ---------------------------------------------------------------------
def request(
    feed: BinanceFeed,
    *,
    symbol: str = "BTCUSDT",
    status: str = "GAP_DETECTED",
    producer: str = "orderbook",
    venue: str | None = None,
    epoch: str | None = None,
) -> dict[str, Any]:
    """A FeedStatus record as the order book core publishes it: correlated to the epoch its book follows."""
    correlation = epoch if epoch is not None else feed.epochs.get(symbol, "none")
    return {
        "meta": {
            "event_id": "req-1",
            "producer": producer,
            "event_time_us": NOW,
            "ingest_time_us": NOW,
            "causation_id": "upd-1",
            "correlation_id": correlation,
        },
        "venue": venue or feed.venue,
        "symbol": symbol,
        "status": status,
        "detail": "missing update ids 106..107; resync requested",
    }


def test_order_book_gap_request_fetches_a_new_snapshot_and_starts_a_new_epoch() -> None:
    feed = synced_feed("futures")
    first_epoch = feed.epochs["BTCUSDT"]
    out = feed.on_feed_status(request(feed), NOW)
    assert out.emits == [] and out.snapshot_requests == ["BTCUSDT"] and out.snapshot_delay_s == 0
    assert feed.stats.resync_requests == 1
    assert feed.on_frame(depth_frame("BTCUSDT", 108, 110, pu=105), NOW).emits == []  # buffered, not published
    resync = feed.on_snapshot("BTCUSDT", snapshot_body(109), NOW)
    assert [e.schema.rsplit(".", 1)[1] for e in resync.emits] == ["DepthSnapshot", "DepthUpdate", "FeedStatus"]
    assert statuses(resync.emits) == [("BTCUSDT", "RESYNCED")]
    assert resync.emits[2].record["detail"] == (
        "on request of orderbook (missing update ids 106..107; resync requested): snapshot lastUpdateId=109"
    )
    assert feed.epochs["BTCUSDT"] != first_epoch == request(feed, epoch=first_epoch)["meta"]["correlation_id"]
    assert feed.stats.resyncs == 1 and feed.stats.gaps == 0


def test_statuses_that_are_not_a_request_for_this_sessions_live_book_are_ignored() -> None:
    feed = synced_feed()
    old_epoch = feed.epochs["BTCUSDT"]
    ignored = [
        request(feed, status="RESYNCED"),
        request(feed, producer="connector.binance"),  # a feed's own gap: it resynchronises by itself
        request(feed, venue="binance-futures"),  # another market's book
        request(feed, symbol="ETHUSDT", epoch=old_epoch),  # a symbol without a snapshot yet: resyncing anyway
        request(feed, symbol="DOGEUSDT", epoch=old_epoch),  # not subscribed
        request(feed, epoch="an-epoch-of-another-session"),
    ]
    for record in ignored:
        assert feed.on_feed_status(record, NOW).snapshot_requests == []
    assert feed.on_feed_status(request(feed), NOW).snapshot_requests == ["BTCUSDT"]
    feed.on_snapshot("BTCUSDT", snapshot_body(106), NOW)
    # The request about the epoch before is answered already: a newer snapshot is out.
    assert feed.on_feed_status(request(feed, epoch=old_epoch), NOW).snapshot_requests == []
    assert feed.stats.resync_requests == 1


def test_request_for_a_book_already_resynchronising_is_ignored() -> None:
    feed = synced_feed()
    epoch = feed.epochs["BTCUSDT"]
    feed.on_frame(depth_frame("BTCUSDT", 110, 112), NOW)  # the feed's own gap: a snapshot is on its way
    assert feed.on_feed_status(request(feed, epoch=epoch), NOW).snapshot_requests == []
    lost = synced_feed()
    epoch = lost.epochs["BTCUSDT"]
    lost.on_lost(NOW, "DISCONNECTED", "closed")
    assert lost.on_feed_status(request(lost, epoch=epoch), NOW).snapshot_requests == []


def test_requests_for_a_symbol_are_paced() -> None:
    feed = BinanceFeed("spot", ("BTCUSDT",), "s1", request_interval_us=5_000_000)
    feed.on_frame(depth_frame("BTCUSDT", 100, 105), NOW)
    feed.on_snapshot("BTCUSDT", snapshot_body(103), NOW)
    assert feed.on_feed_status(request(feed), NOW).snapshot_delay_s == 0
    feed.on_frame(depth_frame("BTCUSDT", 106, 107), NOW + 1_000_000)
    feed.on_snapshot("BTCUSDT", snapshot_body(106), NOW + 1_000_000)
    # A second request 2 s after the first waits until 5 s after it; one 9 s after that goes at once.
    assert feed.on_feed_status(request(feed), NOW + 2_000_000).snapshot_delay_s == 3.0
    feed.on_frame(depth_frame("BTCUSDT", 108, 108), NOW + 6_000_000)
    feed.on_snapshot("BTCUSDT", snapshot_body(107), NOW + 6_000_000)
    assert feed.on_feed_status(request(feed), NOW + 14_000_000).snapshot_delay_s == 0
    assert feed.stats.resync_requests == 3
