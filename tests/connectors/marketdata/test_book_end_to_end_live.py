"""Per market (spot, USD-M futures, COIN-M futures), end to end through the real broker: the fake Binance venue
(REST snapshots, WebSocket diff streams numbered as Binance documents) with injected faults → `sq feed binance`'s
client → md.depth → the order book processor, and `sq book`. The resulting books are the venue's own, level by
level, and not stale.

Faults: an event lost in transit (the feed sees the gap and resynchronises), a depth record lost between the
feed and the broker (only the processor sees it: it asks for a resync and the feed answers), a stall, a
disconnect without a closing handshake; snapshots at an event's ``u`` and in the middle of the next event.
"""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from typing import Any

import pytest
from _book_pipeline import STALL_S, LossySink, run_pipeline
from _fake_binance import SYMBOLS, FakeBinance, serve_snapshots, until
from websockets.asyncio.server import ServerConnection, serve

from bench.market_views import run_orderbook
from connectors.marketdata.binance_client import SNAPSHOT_PATHS
from settings import Settings
from sq.cli import main
from topics.admin import create_topics
from topics.catalogue import CATALOGUE, MD_BOOK_TOP, MD_DEPTH, MD_FEED_STATUS, MD_TRADES
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

MARKETS = ["spot", "futures", "coinm"]


def sq_book(
    settings: Settings, symbol: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """`sq book SYMBOL --json` with every level."""
    monkeypatch.setenv("SQ_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    capsys.readouterr()
    assert main(["book", symbol, "--json", "--depth", "1000"]) == 0
    return json.loads(capsys.readouterr().out)


def decimal_book(levels: list[list[str]]) -> dict[Decimal, Decimal]:
    return {Decimal(price): Decimal(quantity) for price, quantity in levels}


def venue_decimal_book(venue: FakeBinance, symbol: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    bids, asks = venue.books[symbol]
    return dict(bids), dict(asks)


@pytest.mark.parametrize("market", MARKETS)
def test_books_survive_every_fault_and_equal_the_venues_level_by_level(
    market: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_topics(settings, CATALOGUE)
    btc, eth = SYMBOLS[market]
    sink = LossySink(AvroProducer(settings))

    async def gaps_then_stall(venue: FakeBinance, ws: ServerConnection) -> None:
        await venue.start_books(ws, 0)  # snapshots at the last event's u (futures: u == lastUpdateId)
        await venue.send_rounds(ws, 10)
        venue.next_diff(btc)  # lost in transit: the feed sees the gap
        await venue.flow_until(ws, lambda: venue.snapshots_served >= 3, 20, "the feed's resync snapshot")
        await venue.send_rounds(ws, 10)
        delivered = sink.delivered[MD_DEPTH]
        await until(lambda: sink.delivered[MD_DEPTH] >= delivered + 10, 10, "the feed to publish")
        sink.lose_next_update(eth)  # lost on the way to the broker: only the processor sees the gap
        await venue.flow_until(ws, lambda: venue.snapshots_served >= 4, 30, "the snapshot the processor asked for")
        await venue.send_rounds(ws, 10)
        await asyncio.wait_for(ws.wait_closed(), 10)  # silent until the client gives up on the stalled stream

    async def mid_event_then_disconnect(venue: FakeBinance, ws: ServerConnection) -> None:
        await venue.start_books(ws, 4, mid_event=True)  # each snapshot inside the next event's [U, u]
        await venue.send_rounds(ws, 10)
        await ws.drain()
        ws.transport.abort()  # the network drops: no closing handshake

    async def finish(venue: FakeBinance, ws: ServerConnection) -> None:
        await venue.start_books(ws, 6)
        await venue.send_rounds(ws, 20)
        venue.script_done = True
        await ws.wait_closed()

    venue = FakeBinance(market, (btc, eth), [gaps_then_stall, mid_event_then_disconnect, finish])
    run = run_pipeline(market, settings, venue, sink=sink)

    stats = run.client.stats
    assert (stats.gaps, stats.resync_requests, stats.stalls, stats.reconnects) == (1, 1, 1, 2)
    assert (stats.snapshots, stats.resyncs, len(sink.lost)) == (8, 6, 1)
    assert [symbol for symbol, _ in venue.snapshot_ids[2:4]] == [btc, eth]

    for symbol in (btc, eth):
        # The processor's book, level by level.
        bids, asks, stale = run.processor_book(symbol)
        assert not stale
        assert (bids, asks) == venue.book_fixed(symbol)
        # `sq book`: the processor's state, as its changelog holds it.
        book = sq_book(settings, symbol, monkeypatch, capsys)
        assert (book["stale"], book["sequence"], book["venue"]) == (False, venue.last_id[symbol], f"binance-{market}")
        assert (decimal_book(book["bids"]), decimal_book(book["asks"])) == venue_decimal_book(venue, symbol)
        # The last top of book the processor published (one goes out when the best 10 levels change): the
        # venue's best 10 levels.
        top = [e.record for e in read_events(settings, MD_BOOK_TOP) if e.record["symbol"] == symbol][-1]
        venue_bids, venue_asks = venue.book_fixed(symbol)
        assert not top["stale"]
        assert [(lv["price"], lv["quantity"]) for lv in top["bids"]] == sorted(venue_bids.items(), reverse=True)[:10]
        assert [(lv["price"], lv["quantity"]) for lv in top["asks"]] == sorted(venue_asks.items())[:10]

    statuses = [e.record for e in read_events(settings, MD_FEED_STATUS)]
    processor = [(s["symbol"], s["status"]) for s in statuses if s["meta"]["producer"] == "orderbook"]
    assert processor == [(eth, "GAP_DETECTED"), (eth, "RESYNCED")]  # the feed's own gap never reached it


@pytest.mark.parametrize("market", MARKETS)
def test_sq_feed_then_sq_book_without_a_fault_gives_the_venues_book(
    market: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's steps: `sq feed binance --market … --ws-url … --rest-url …`, then `sq book SYMBOL --json`."""
    create_topics(settings, CATALOGUE)  # the orderbook processor's outputs too (md.book.top, md.analytics)
    btc, eth = SYMBOLS[market]

    async def talk(venue_: FakeBinance, ws: ServerConnection) -> None:
        await venue_.start_books(ws, 0)
        await venue_.send_rounds(ws, 150)  # 300 depth updates
        venue_.script_done = True
        await ws.wait_closed()

    venue = FakeBinance(market, (btc, eth), [talk])
    http = serve_snapshots(venue, SNAPSHOT_PATHS[market])
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[int] = loop.create_future()
    done: asyncio.Future[None] = loop.create_future()

    async def serve_ws() -> None:  # the venue runs on its own loop and thread: the CLI runs asyncio.run itself
        async with serve(venue.handler, "127.0.0.1", 0) as server:
            ready.set_result(server.sockets[0].getsockname()[1])
            await done

    thread = threading.Thread(target=loop.run_until_complete, args=(serve_ws(),), daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), 10), loop).result(10)
    monkeypatch.setenv("SQ_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    try:
        code = main(
            [
                "feed",
                "binance",
                "--market",
                market,
                "--symbols",
                f"{btc},{eth}",
                "--ws-url",
                f"ws://127.0.0.1:{port}",
                "--rest-url",
                f"http://127.0.0.1:{http.server_port}",
                "--max-seconds",
                "3",
                "--stall-seconds",
                str(STALL_S * 10),
                "--json",
            ]
        )
    finally:
        http.shutdown()
        loop.call_soon_threadsafe(done.set_result, None)
        thread.join(10)
        loop.close()
    assert code == 0 and venue.script_done
    summary = json.loads(capsys.readouterr().out)
    # Futures also publish each book's first event, whose u == lastUpdateId; spot drops it (u <= lastUpdateId).
    updates = 300 if market == "spot" else 302
    assert (summary["snapshots"], summary["updates"], summary["gaps"]) == (2, updates, 0)
    # `sq book` prints what the orderbook processor holds: it runs over what the feed wrote.
    run_orderbook(settings, sum(len(read_events(settings, topic)) for topic in (MD_DEPTH, MD_TRADES)))
    for symbol in (btc, eth):
        book = sq_book(settings, symbol, monkeypatch, capsys)
        assert (book["stale"], book["sequence"]) == (False, venue.last_id[symbol])
        assert (decimal_book(book["bids"]), decimal_book(book["asks"])) == venue_decimal_book(venue, symbol)
