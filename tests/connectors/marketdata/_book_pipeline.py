"""Market data end to end through the real broker: the fake Binance venue → ``BinanceClient`` (listening to
md.feed.status for resync requests) → md.depth / md.trades → the order book processor on the kafka engine →
md.book.top / md.feed.status, and back to the feed when the processor asks for a resync.

The processor runs in the test's main thread (the engine installs a signal handler); the venue and the feed
run on an asyncio loop in a second thread, which stops the engine once it has consumed everything the feed
published. ``LossySink`` loses chosen md.depth records on their way to the broker: a gap only a consumer of
md.depth can see, since the feed's own chain is intact.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _fake_binance import FakeBinance, serve_snapshots, until
from websockets.asyncio.server import serve

from connectors.marketdata.backoff import Backoff
from connectors.marketdata.binance_client import SNAPSHOT_PATHS, BinanceClient, BinanceConfig
from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.status_watch import FeedStatusWatch
from processors.core import Emit
from processors.orderbook.core import OrderBookCore
from processors.runtime.kafka_engine import EngineOptions, KafkaEngine
from schemas.names import DEPTH_UPDATE
from settings import Settings
from topics.catalogue import MD_DEPTH, MD_TRADES
from topics.client import AvroProducer

STALL_S = 1.0


class LossySink(KafkaSink):
    """A sink that loses the next md.depth update of a symbol when told to, and counts what it delivered."""

    def __init__(self, producer: AvroProducer) -> None:
        super().__init__(producer)
        self.delivered: Counter[str] = Counter()  # topic → records handed to the producer
        self.lost: list[dict[str, Any]] = []
        self._to_lose: set[str] = set()

    def lose_next_update(self, symbol: str) -> None:
        self._to_lose.add(symbol)

    def publish(self, emit: Emit) -> None:
        if emit.schema == DEPTH_UPDATE and emit.key in self._to_lose:
            self._to_lose.discard(emit.key)
            self.lost.append(emit.record)
            return
        super().publish(emit)
        self.delivered[emit.topic] += 1


@dataclass
class PipelineRun:
    engine: KafkaEngine
    sink: LossySink
    clients: list[BinanceClient] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)

    @property
    def client(self) -> BinanceClient:
        return self.clients[0]

    def processor_book(self, symbol: str) -> tuple[dict[int, int], dict[int, int], bool]:
        """The processor's book of ``symbol`` as price → quantity per side, and whether it is stale."""
        (core,) = self.engine.pipeline.cores
        assert isinstance(core, OrderBookCore)
        view = core.book_view(symbol, 100_000)
        assert view is not None, f"the processor has no book of {symbol}"
        return dict(view["bids"]), dict(view["asks"]), view["stale"]


def run_pipeline(
    market: str,
    settings: Settings,
    venue: FakeBinance,
    *,
    sink: LossySink,
    resync_interval_s: float = 0.2,
    timeout_s: float = 60.0,
) -> PipelineRun:
    """Run the processor and the feed until the venue's scripts are done and the processor consumed it all."""
    engine = KafkaEngine([OrderBookCore], settings, EngineOptions(worker=0, batch_size=200))
    watch = FeedStatusWatch(settings)
    http = serve_snapshots(venue, SNAPSHOT_PATHS[market])
    run = PipelineRun(engine, sink)
    deadline = time.monotonic() + timeout_s

    async def feed() -> None:
        async with serve(venue.handler, "127.0.0.1", 0, process_request=venue.process_request) as server:
            config = BinanceConfig(
                market,  # type: ignore[arg-type]
                venue.symbols,
                ws_url=f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}",
                rest_url=f"http://127.0.0.1:{http.server_port}",
                stall_s=STALL_S,
                progress_s=60,
                resync_interval_s=resync_interval_s,
                backoff=Backoff(base_s=0.02, cap_s=0.1, rng=random.Random(1)),
                snapshot_backoff=Backoff(base_s=0.02, cap_s=0.1, rng=random.Random(2)),
            )
            client = BinanceClient(config, sink, "e2e", watch=watch)
            run.clients.append(client)
            task = asyncio.ensure_future(client.run())
            await until(
                lambda: venue.script_done and client.stats.messages >= len(venue.raw_sent),
                deadline - time.monotonic(),
                "the venue's scripts",
            )
            client.stop()
            await asyncio.wait_for(task, 10)

    def feed_then_stop_the_engine() -> None:
        try:
            asyncio.run(feed())
            sink.flush()
            published = sink.delivered[MD_DEPTH] + sink.delivered[MD_TRADES]
            while engine.stats.consumed < published:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the processor consumed {engine.stats.consumed} of {published} records")
                time.sleep(0.02)
        except BaseException as error:
            run.failures.append(error)
        finally:
            engine.stop()

    thread = threading.Thread(target=feed_then_stop_the_engine, daemon=True)
    thread.start()
    try:
        engine.run(max_seconds=timeout_s + 5)
    finally:
        thread.join(timeout_s + 15)
        watch.close()
        http.shutdown()
        sink.close()
    if run.failures:
        raise run.failures[0]
    return run
