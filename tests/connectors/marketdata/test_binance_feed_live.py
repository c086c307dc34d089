"""The Binance feed against a local WebSocket + HTTP venue and the real broker: a gap, a stall, a
disconnect and malformed frames; the records on md.depth / md.trades, the FeedStatus events, the dead letters,
and a recording that replays to the same records."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from _fake_binance import SYMBOLS, FakeBinance, serve_snapshots, until
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from connectors.marketdata.backoff import Backoff
from connectors.marketdata.binance_client import SNAPSHOT_PATHS, BinanceClient, BinanceConfig
from connectors.marketdata.binance_messages import Market
from connectors.marketdata.file_feed import play_files
from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.tape_io import TapeRecorder
from settings import Settings
from sq.cli import main
from topics.admin import create_topics
from topics.catalogue import DEAD_LETTERS, MD_DEPTH, MD_FEED_STATUS, MD_TRADES, spec_for
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

FEED_TOPICS = [spec_for(t) for t in (MD_DEPTH, MD_TRADES, MD_FEED_STATUS, DEAD_LETTERS)]
STALL_S = 1.0
BAD_FRAMES = ["{not json", '{"e": "trade", "E": 1, "s": "BTCUSDT", "t": 9, "p": "1.5x", "q": "1", "T": 1, "m": true}']


async def gap_then_stall(venue: FakeBinance, ws: ServerConnection) -> None:
    await venue.start_books(ws, 0)
    await venue.send_rounds(ws, 5)
    venue.next_diff(venue.symbols[0])  # lost in transit: the symbol's next event does not continue the chain
    await venue.send_rounds(ws, 1)
    await until(lambda: venue.snapshots_served >= 3, 10, "the resync snapshot")
    await venue.send_rounds(ws, 5)
    await asyncio.wait_for(ws.wait_closed(), 10)  # silent until the client gives up on the stalled stream


async def malformed_then_disconnect(venue: FakeBinance, ws: ServerConnection) -> None:
    await venue.start_books(ws, 3, mid_event=True)  # each snapshot falls inside the next event's [U, u]
    await venue.send_rounds(ws, 5)
    for frame in BAD_FRAMES:
        await venue.send(ws, frame.replace("BTCUSDT", venue.symbols[0]))
    await venue.send_rounds(ws, 2)
    await ws.drain()
    ws.transport.abort()  # the network drops: no closing handshake


async def finish(venue: FakeBinance, ws: ServerConnection) -> None:
    await venue.start_books(ws, 5)
    await venue.send_rounds(ws, 5)
    venue.script_done = True
    await ws.wait_closed()


async def only_connection(venue: FakeBinance, ws: ServerConnection) -> None:
    await venue.start_books(ws, 0)
    await venue.send_rounds(ws, 5)
    venue.script_done = True
    await ws.wait_closed()


def run_feed(
    market: Market,
    settings: Settings,
    venue: FakeBinance,
    record: Path | None,
    *,
    every_frame: bool = True,
    **config: Any,
) -> BinanceClient:
    """Run the feed until the venue's scripts are done (and, with ``every_frame``, the client read all it sent)."""
    http = serve_snapshots(venue, SNAPSHOT_PATHS[market])
    recorder = TapeRecorder(record, "live", rows_per_file=40) if record else None
    sink = KafkaSink(AvroProducer(settings), recorder)

    async def main() -> BinanceClient:
        async with serve(venue.handler, "127.0.0.1", 0, process_request=venue.process_request) as server:
            port = server.sockets[0].getsockname()[1]
            settings_ = BinanceConfig(
                market,
                venue.symbols,
                ws_url=f"ws://127.0.0.1:{port}",
                rest_url=f"http://127.0.0.1:{http.server_port}",
                stall_s=STALL_S,
                progress_s=60,
                backoff=Backoff(base_s=0.02, cap_s=0.1, rng=random.Random(1)),
                snapshot_backoff=Backoff(base_s=0.02, cap_s=0.1, rng=random.Random(2)),
                **config,
            )
            client = BinanceClient(settings_, sink, "itest")
            task = asyncio.ensure_future(client.run())
            await until(
                lambda: venue.script_done and (not every_frame or client.stats.messages >= len(venue.raw_sent)),
                15,
                "the script",
            )
            client.stop()
            await asyncio.wait_for(task, 10)
            return client

    try:
        return asyncio.run(main())
    finally:
        sink.close()
        http.shutdown()


def replay_book(market: str, records: list[dict[str, Any]]) -> tuple[dict[int, int], dict[int, int], int]:
    """Rebuild a book from md.depth as a consumer would, checking Binance's rules independently."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    last: int | None = None
    bridged, snapshots = False, 0
    for record in records:
        if "first_update_id" not in record:
            bids = {lv["price"]: lv["quantity"] for lv in record["bids"]}
            asks = {lv["price"]: lv["quantity"] for lv in record["asks"]}
            last, bridged, snapshots = record["last_update_id"], False, snapshots + 1
            continue
        assert last is not None
        first, final = record["first_update_id"], record["last_update_id"]
        if not bridged:
            assert first <= (last + 1 if market == "spot" else last) <= final
        elif market == "spot":
            assert first == last + 1
        else:
            assert record["previous_last_update_id"] == last
        for side, levels in ((bids, record["bids"]), (asks, record["asks"])):
            for level in levels:
                if level["quantity"]:
                    side[level["price"]] = level["quantity"]
                else:
                    side.pop(level["price"], None)
        last, bridged = final, True
    return bids, asks, snapshots


def by_symbol(records: list[dict[str, Any]], symbol: str) -> list[dict[str, Any]]:
    return [r for r in records if r["symbol"] == symbol]


@pytest.mark.parametrize("market", ["spot", "futures", "coinm"])
def test_feed_survives_gap_stall_disconnect_and_bad_frames(market: Market, settings: Settings, tmp_path: Path) -> None:
    create_topics(settings, FEED_TOPICS)
    btc, eth = SYMBOLS[market]
    bad_frames = [frame.replace("BTCUSDT", btc) for frame in BAD_FRAMES]
    venue = FakeBinance(market, (btc, eth), [gap_then_stall, malformed_then_disconnect, finish])
    client = run_feed(market, settings, venue, tmp_path / "recording")

    assert venue.connections == 3
    stream = "trade" if market == "spot" else "aggTrade"
    assert venue.paths[0] == (
        f"/stream?streams={btc.lower()}@depth@100ms/{btc.lower()}@{stream}/{eth.lower()}@depth@100ms/{eth.lower()}@{stream}"
    )
    stats = client.stats
    assert (stats.gaps, stats.stalls, stats.reconnects, stats.dead_letters) == (1, 1, 2, 2)
    assert (stats.snapshots, stats.resyncs) == (7, 5)

    depth = [e.record for e in read_events(settings, MD_DEPTH)]
    for symbol, snapshots in ((btc, 4), (eth, 3)):
        bids, asks, seen = replay_book(market, by_symbol(depth, symbol))
        assert seen == snapshots
        assert (bids, asks) == venue.book_fixed(symbol)  # the consumer's book is the venue's book

    trades = [
        (r["symbol"], r["trade_id"], r["price"], r["quantity"], r["aggressor"])
        for r in (e.record for e in read_events(settings, MD_TRADES))
    ]
    assert sorted(trades) == sorted(venue.trades_sent)

    statuses = [e.record for e in read_events(settings, MD_FEED_STATUS)]
    assert [s["status"] for s in by_symbol(statuses, btc)] == [
        "CONNECTED",
        "GAP_DETECTED",
        "RESYNCED",
        "STALLED",
        "CONNECTED",
        "RESYNCED",
        "DISCONNECTED",
        "CONNECTED",
        "RESYNCED",
        "DISCONNECTED",
    ]
    assert [s["status"] for s in by_symbol(statuses, eth)] == [
        "CONNECTED",
        "STALLED",
        "CONNECTED",
        "RESYNCED",
        "DISCONNECTED",
        "CONNECTED",
        "RESYNCED",
        "DISCONNECTED",
    ]
    details = {s["status"]: s["detail"] for s in by_symbol(statuses, btc)}
    assert details["STALLED"] == f"no message for {STALL_S:g} s"
    assert details["GAP_DETECTED"].startswith("missing update ids" if market == "spot" else "pu=")

    letters = [e.record for e in read_events(settings, DEAD_LETTERS)]
    assert [(d["reason"], d["value"]) for d in letters] == [("MALFORMED_FRAME", f.encode()) for f in bad_frames]
    assert "not JSON" in letters[0]["detail"] and "trade price" in letters[1]["detail"]

    # The recording replays to the same records: same ids, same values (only producer and ingest time differ).
    replay = settings.with_topic_prefix(settings.topic_prefix + "replay.")
    create_topics(replay, FEED_TOPICS)
    played = play_files([tmp_path / "recording"], KafkaSink(AvroProducer(replay)))
    assert played.dead_letters == 0 and played.messages == len(depth) + len(trades)
    for topic in (MD_DEPTH, MD_TRADES):
        live = sorted((_comparable(e.record) for e in read_events(settings, topic)), key=str)
        again = sorted((_comparable(e.record) for e in read_events(replay, topic)), key=str)
        assert again == live


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return record | {"meta": record["meta"] | {"producer": None, "ingest_time_us": None}}


async def keep_talking(venue: FakeBinance, ws: ServerConnection) -> None:
    await venue.start_books(ws, venue.snapshots_served)
    with contextlib.suppress(ConnectionClosed):  # until the client replaces the connection
        while True:
            await venue.send_rounds(ws, 1)
            await asyncio.sleep(0.02)


def test_connection_is_replaced_before_its_planned_lifetime_ends(settings: Settings) -> None:
    create_topics(settings, FEED_TOPICS)
    venue = FakeBinance("spot", SYMBOLS["spot"], [keep_talking] * 3)

    async def finish_after_three(venue_: FakeBinance, ws: ServerConnection) -> None:
        venue_.script_done = True
        await ws.wait_closed()

    venue.scripts.append(finish_after_three)
    client = run_feed("spot", settings, venue, None, every_frame=False, max_connection_s=0.6)
    assert venue.connections == 4 and client.stats.stalls == 0 and client.stats.reconnects == 3
    statuses = by_symbol([e.record for e in read_events(settings, MD_FEED_STATUS)], "BTCUSDT")
    planned = [s for s in statuses if s["status"] == "DISCONNECTED" and "24-hour" in s["detail"]]
    assert len(planned) == 3


def test_sq_feed_binance_records_a_session_that_sq_feed_file_replays(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def talk_briefly(venue_: FakeBinance, ws: ServerConnection) -> None:
        await venue_.start_books(ws, 0)
        await venue_.send_rounds(ws, 10)
        venue_.script_done = True
        await ws.wait_closed()

    venue = FakeBinance("spot", SYMBOLS["spot"], [talk_briefly])
    http = serve_snapshots(venue, SNAPSHOT_PATHS["spot"])
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
                "spot",
                "--symbols",
                "btcusdt,ETHUSDT",
                "--ws-url",
                f"ws://127.0.0.1:{port}",
                "--rest-url",
                f"http://127.0.0.1:{http.server_port}",
                "--record",
                str(tmp_path / "rec"),
                "--max-seconds",
                "2.5",
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
    assert summary["trades"] == len(venue.trades_sent) == 20 and summary["snapshots"] == 2
    assert summary["venue"] == "binance-spot" and summary["dead_letters"] == 0
    recorded = summary["recorded"]
    assert recorded["rows"] == summary["trades"] + summary["updates"] + summary["snapshots"] and recorded["files"]

    assert main(["feed", "file", str(tmp_path / "rec"), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert (replayed["messages"], replayed["trades"], replayed["dead_letters"]) == (recorded["rows"], 20, 0)


def test_refused_connections_and_failed_snapshots_are_retried_with_backoff(settings: Settings) -> None:
    create_topics(settings, FEED_TOPICS)
    venue = FakeBinance("futures", SYMBOLS["futures"], [only_connection])
    venue.refuse_connections, venue.fail_snapshots = 2, 1
    client = run_feed("futures", settings, venue, None)
    assert venue.refused == 2 and venue.connections == 1
    # Failed attempts are not connections: one CONNECTED, no outage reported before it, no resync.
    assert (client.stats.reconnects, client.stats.snapshots, client.stats.resyncs) == (0, 2, 0)
    statuses = [e.record["status"] for e in read_events(settings, MD_FEED_STATUS) if e.record["symbol"] == "BTCUSDT"]
    assert statuses == ["CONNECTED", "DISCONNECTED"]
    depth = [e.record for e in read_events(settings, MD_DEPTH)]
    for symbol in SYMBOLS["futures"]:
        bids, asks, _ = replay_book("futures", by_symbol(depth, symbol))
        assert (bids, asks) == venue.book_fixed(symbol)
