"""A book that goes stale recovers by itself: the order book processor's resync request (GAP_DETECTED on
md.feed.status) reaches the feed, which publishes a new snapshot, through the real broker."""

from __future__ import annotations

from typing import Any

import pytest
from _book_pipeline import LossySink, run_pipeline
from _fake_binance import SYMBOLS, FakeBinance, until
from websockets.asyncio.server import ServerConnection

from connectors.marketdata.records import feed_status, meta
from connectors.marketdata.status_watch import FeedStatusWatch
from settings import Settings
from topics.admin import create_topics
from topics.catalogue import CATALOGUE, MD_DEPTH, MD_FEED_STATUS, spec_for
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration


def _status(symbol: str, status: str, n: int) -> tuple[str, str, str, dict[str, Any]]:
    envelope = meta(f"evt-{n}", "orderbook", n, n, f"epoch-{n}")
    emit = feed_status("binance-futures", symbol, status, f"detail {n}", envelope)
    return emit.topic, emit.key, emit.schema, emit.record


def test_watch_hears_only_what_is_published_after_it_starts(settings: Settings) -> None:
    create_topics(settings, [spec_for(MD_FEED_STATUS)])
    producer = AvroProducer(settings)
    producer.produce(*_status("BTCUSDT", "GAP_DETECTED", 1))
    producer.flush()
    watch = FeedStatusWatch(settings)
    try:
        for n, symbol in ((2, "BTCUSDT"), (3, "ETHUSDT")):
            producer.produce(*_status(symbol, "GAP_DETECTED", n))
        producer.flush()
        heard: list[dict[str, Any]] = []
        for _ in range(50):  # up to 10 s
            heard += watch.poll(0.2)
            if len(heard) >= 2:
                break
        assert sorted(r["meta"]["event_id"] for r in heard) == ["evt-2", "evt-3"]
        assert watch.poll(0.2) == [] and watch.skipped == 0
    finally:
        watch.close()


@pytest.mark.parametrize("market", ["spot", "futures"])
def test_gap_only_the_processor_sees_is_answered_with_a_new_snapshot(market: str, settings: Settings) -> None:
    """A depth update is lost between the feed and the broker: the feed's chain is intact (no gap there),
    the processor's book goes stale and asks for a resync; the feed fetches a new snapshot; the book is the
    venue's again, level by level."""
    create_topics(settings, CATALOGUE)
    btc, eth = SYMBOLS[market]
    sink = LossySink(AvroProducer(settings))

    async def lose_one_update(venue: FakeBinance, ws: ServerConnection) -> None:
        await venue.start_books(ws, 0)
        await venue.send_rounds(ws, 10)
        await until(lambda: sink.delivered[MD_DEPTH] >= 12, 10, "the feed to publish the books")
        sink.lose_next_update(btc)  # one in the middle of the chain
        await venue.flow_until(ws, lambda: venue.snapshots_served >= 3, 30, "the snapshot the processor asked for")
        await venue.send_rounds(ws, 10)
        venue.script_done = True
        await ws.wait_closed()

    venue = FakeBinance(market, (btc, eth), [lose_one_update])
    run = run_pipeline(market, settings, venue, sink=sink)

    assert len(sink.lost) == 1
    stats = run.client.stats
    assert (stats.gaps, stats.resync_requests, stats.resyncs, stats.snapshots) == (0, 1, 1, 3)
    fetched = [symbol for symbol, _ in venue.snapshot_ids]
    assert sorted(fetched[:2]) == sorted([btc, eth]) and fetched[2:] == [btc]  # the first two in either order
    for symbol in (btc, eth):
        bids, asks, stale = run.processor_book(symbol)
        assert not stale
        assert (bids, asks) == venue.book_fixed(symbol)

    statuses = [e.record for e in read_events(settings, MD_FEED_STATUS) if e.record["symbol"] == btc]
    by_producer = {
        producer: [(s["status"], s["detail"]) for s in statuses if s["meta"]["producer"] == producer]
        for producer in ("orderbook", "connector.binance")
    }
    (gap, gap_detail), (resynced, _) = by_producer["orderbook"]
    assert (gap, resynced) == ("GAP_DETECTED", "RESYNCED")
    lost = sink.lost[0]
    if market == "spot":
        missing = f"missing update ids {lost['first_update_id']}..{lost['last_update_id']} "
    else:
        missing = f"pu={lost['last_update_id']} but the previous event's u={lost['previous_last_update_id']} "
    assert gap_detail.startswith(missing) and gap_detail.endswith("; resync requested")
    assert [status for status, _ in by_producer["connector.binance"]] == ["CONNECTED", "RESYNCED", "DISCONNECTED"]
    assert by_producer["connector.binance"][1][1].startswith(f"on request of orderbook ({gap_detail})")
    assert not any(s["status"] == "GAP_DETECTED" for s in statuses if s["symbol"] == eth)
