"""GET /v1/books/{symbol} and /v1/analytics/{symbol} with a long md.depth history behind them.

    python -m bench.market_views [--records N] [--requests R] [--depth D] [--json]

On a throwaway topic prefix and database: N records in md.depth (one symbol: a 50-level snapshot, then
updates each moving one level, 1 ms of event time apart; a trade every 100 updates on md.trades), produced raw;
the orderbook processor (the Kafka engine, one worker) applies them all; then the API starts in a process of
its own (uvicorn, as `sq api` serves it) and one keep-alive client sends R GET book (depth D) and R GET
analytics, one at a time; the latency is request sent → response read. The answers are checked against the
same history applied to an ``OrderBookCore`` in this process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg

from api import key_store
from api.auth import Role
from bench.api import _free_port, _ready
from bench.common import BenchTopics, Reporter, busy_warning, latency_stats, machine_info
from connectors.marketdata.views import book_document
from connectors.postgres.databases import scratch_database
from processors.core import Event
from processors.orderbook.core import OrderBookCore
from processors.runtime.kafka_engine import EngineOptions, EngineStats, KafkaEngine
from schemas.codec import default_codec
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE, MARKET_ANALYTICS, TRADE
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import Settings, load_settings
from topics.admin import create_topics
from topics.catalogue import CATALOGUE, MD_DEPTH, MD_TRADES
from topics.client import AvroProducer

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
STEP_US = 1_000  # event time between two depth records
TRADE_EVERY = 100
LEVELS = 50
VENUE = "bench"
READY_TIMEOUT_S = 60.0

Record = tuple[str, str, str, dict[str, Any]]  # topic, key, schema, record


def _meta(event_id: str, t: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "producer": "bench-feed",
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": event_id,
    }


def market_history(symbol: str, records: int, first_update: int = 1, t0: int = T0) -> Iterator[Record]:
    """``records`` md.depth records of ``symbol`` (a snapshot when ``first_update`` is 1, then updates each
    moving one level of a 50-level book around 60,000) and a trade every 100 of them, in event-time order."""
    mid = 60_000 * PRICE_SCALE
    tick = PRICE_SCALE // 2
    for n in range(first_update, first_update + records):
        t = t0 + n * STEP_US
        if n == 1:
            bids = [{"price": mid - (i + 1) * tick, "quantity": QUANTITY_SCALE} for i in range(LEVELS)]
            asks = [{"price": mid + (i + 1) * tick, "quantity": QUANTITY_SCALE} for i in range(LEVELS)]
            record = {
                "meta": _meta(f"{symbol}-d{n}", t),
                "venue": VENUE,
                "symbol": symbol,
                "last_update_id": 1,
                "bids": bids,
                "asks": asks,
            }
            yield MD_DEPTH, symbol, DEPTH_SNAPSHOT, record
            continue
        level = n % LEVELS + 1  # levels away from the mid
        quantity = (n % 7) * QUANTITY_SCALE // 4  # 0 removes the level, for a while
        change = [{"price": mid + (level if n % 2 else -level) * tick, "quantity": quantity}]
        update = {
            "meta": _meta(f"{symbol}-d{n}", t),
            "venue": VENUE,
            "symbol": symbol,
            "first_update_id": n,
            "last_update_id": n,
            "previous_last_update_id": n - 1,
            "bids": [] if n % 2 else change,
            "asks": change if n % 2 else [],
        }
        yield MD_DEPTH, symbol, DEPTH_UPDATE, update
        if n % TRADE_EVERY == 0:
            trade = {
                "meta": _meta(f"{symbol}-t{n}", t),
                "venue": VENUE,
                "symbol": symbol,
                "trade_id": f"{symbol}-t{n}",
                "price": mid + (tick if n % 3 else -tick),
                "quantity": QUANTITY_SCALE // (1 + n % 5),
                "aggressor": "BUY" if n % 3 else "SELL",
            }
            yield MD_TRADES, symbol, TRADE, trade


class Expected:
    """What the orderbook processor holds after the records produced so far: the same core, in process."""

    def __init__(self) -> None:
        self.core = OrderBookCore()
        self.analytics: dict[str, dict[str, Any]] = {}  # symbol -> its last MarketAnalytics
        self.records = 0

    def apply(self, topic: str, key: str, schema: str, record: dict[str, Any]) -> None:
        for emit in self.core.apply(Event(topic, key, schema, record, record["meta"]["ingest_time_us"])):
            if emit.schema == MARKET_ANALYTICS:
                self.analytics[key] = emit.record
        self.records += 1

    def book(self, symbol: str, depth: int) -> dict[str, Any]:
        return book_document(self.core, symbol, depth)


def produce(settings: Settings, history: Iterator[Record], expected: Expected) -> int:
    """Every record of ``history`` to its topic, raw (encoded here, batched), and into ``expected``."""
    codec = default_codec()
    producer = AvroProducer(settings, None, **{"linger.ms": 50, "batch.num.messages": 10_000})
    count = 0
    for topic, key, schema, record in history:
        producer.produce_raw(topic, key, codec.encode(schema, record))
        expected.apply(topic, key, schema, record)
        count += 1
    producer.flush(300)
    return count


def run_orderbook(settings: Settings, records: int, max_seconds: float = 1800.0) -> EngineStats:
    """The orderbook processor (the Kafka engine, one worker, as `sq run orderbook` runs it) until it has
    applied ``records`` more input records, in committed transactions."""
    engine = KafkaEngine([OrderBookCore], settings, EngineOptions(), name="orderbook")

    def stop_when_done(stats: EngineStats) -> None:
        if stats.consumed >= records:
            engine.stop()

    engine.run(max_seconds=max_seconds, on_batch=stop_when_done)
    if engine.stats.consumed < records:
        raise RuntimeError(f"the orderbook applied {engine.stats.consumed} of {records} records in {max_seconds} s")
    return engine.stats


@contextmanager
def api_process(settings: Settings) -> Iterator[str]:
    """The API (uvicorn, as `sq api` serves it) in a process of its own; its base URL once /readyz answers."""
    port = _free_port()
    env = {**os.environ, **settings.as_env(), "SQ_API_RATE_PER_SECOND": "1e9", "SQ_API_RATE_BURST": "1000000000"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_factory", "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "warning"], env=env, stdout=sys.stderr.fileno())
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _ready(base_url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not become ready (exit code {server.poll()})")
            time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        server.wait(30)


def timed_gets(client: httpx.Client, path: str, count: int, params: dict[str, Any]) -> list[float]:
    """``count`` GETs one after the other; their latencies in microseconds (each must answer 200)."""
    samples: list[float] = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - began) * 1e6)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text}")
    return samples


def run(reporter: Reporter, records: int, requests: int, depth: int) -> None:
    base = load_settings()
    info = machine_info(base)
    reporter.machine(info)
    if (warning := busy_warning(info)) is not None:
        reporter.line(warning)
    topics = BenchTopics(base)
    settings = base.with_topic_prefix(f"{topics.prefix}market.")
    symbol = "BENCHBTC"
    try:
        create_topics(settings, CATALOGUE)
        expected = Expected()
        began = time.perf_counter()
        produced = produce(settings, market_history(symbol, records), expected)
        reporter.add(
            "setup", "records produced (depth and trades)", produced, "records", f"{time.perf_counter() - began:.1f} s"
        )
        began = time.perf_counter()
        stats = run_orderbook(settings, produced)
        reporter.add("setup", "orderbook processor", stats.consumed / (time.perf_counter() - began), "records/s")
        with scratch_database(base.database_url, "bench_views", migrated=True) as url:
            with psycopg.connect(url, autocommit=True) as conn:
                key = key_store.create_key(conn, Role.READ_ONLY, ["*"], label="bench").key
            with api_process(settings.with_database_url(url)) as base_url:
                client = httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=10)
                book = client.get(f"/v1/books/{symbol}", params={"depth": depth}).json()
                analytics = client.get(f"/v1/analytics/{symbol}").json()
                want = expected.analytics[symbol]
                if book != {**expected.book(symbol, depth)} or analytics["window_end_us"] != want["window_end_us"]:
                    raise RuntimeError(f"the API's answers differ from the core's: {book} / {analytics}")
                timed_gets(client, f"/v1/books/{symbol}", min(requests, 200), {"depth": depth})  # warm-up
                books = timed_gets(client, f"/v1/books/{symbol}", requests, {"depth": depth})
                analytics_samples = timed_gets(client, f"/v1/analytics/{symbol}", requests, {})
                client.close()
        detail = f"{records:,} records in md.depth behind"
        reporter.add_latency(f"GET /v1/books (depth {depth})", latency_stats(books), detail)
        reporter.add_latency("GET /v1/analytics", latency_stats(analytics_samples), detail)
    finally:
        topics.cleanup(groups_wait_s=15.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.market_views", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000, help="md.depth records behind the views")
    parser.add_argument("--requests", type=int, default=2_000, help="GETs of each route")
    parser.add_argument("--depth", type=int, default=10, help="levels per side asked of GET book")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.records, args.requests, args.depth) <= 0:
        parser.error("--records, --requests and --depth must be positive")
    reporter = Reporter(args.json)
    run(reporter, args.records, args.requests, args.depth)
    reporter.finish(benchmark="market_views")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
