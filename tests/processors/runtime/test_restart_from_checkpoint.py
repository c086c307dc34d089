"""A restart does not replay the history of market data: it reads the checkpoint and the tail after it.

With a million md.depth records behind it (SQ_RESTART_DEPTH_RECORDS sets another size), the single stage's
worker is SIGKILLed and a new one started: it restores the venue's market book from the last broadcast
snapshot, re-reads only the records after the snapshot's positions, and accepts a new order. The test counts
the re-read records (no timing is asserted; bench.restart measures the time, docs/BENCHMARKS.md has it).
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from processors.core import order_id_for
from processors.runtime.checkpoints import read_checkpoints
from processors.runtime.kafka_engine import EngineOptions, EngineStats, KafkaEngine
from processors.runtime.registry import stage_factories
from processors.runtime.supervisor import start_worker
from schemas.codec import default_codec
from schemas.examples import example_event
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE, NEW_ORDER
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import Settings
from tests.kit.running import wait_for
from topics.admin import physical_name
from topics.catalogue import MD_DEPTH, ORDERS_COMMANDS, ORDERS_EVENTS, checkpoint_topic
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

RECORDS = int(os.environ.get("SQ_RESTART_DEPTH_RECORDS", "1000000"))
SYMBOL = "BTCUSDT"
VENUE = "sim"


def _produce_depth(settings: Settings, count: int) -> None:
    """A snapshot, then ``count - 1`` updates continuing it, each moving one bid level."""
    codec = default_codec()
    producer = AvroProducer(settings, None, **{"linger.ms": 50, "batch.num.messages": 10_000})
    snapshot = example_event(DEPTH_SNAPSHOT, venue=VENUE, symbol=SYMBOL, last_update_id=1)
    producer.produce_raw(MD_DEPTH, SYMBOL, codec.encode(DEPTH_SNAPSHOT, snapshot))
    update = example_event(DEPTH_UPDATE, venue=VENUE, symbol=SYMBOL)
    meta = update["meta"]
    for n in range(2, count + 1):
        update["meta"] = {**meta, "event_id": f"depth-{n}", "event_time_us": meta["event_time_us"] + n}
        update["first_update_id"] = update["last_update_id"] = n
        update["previous_last_update_id"] = n - 1
        update["bids"] = [{"price": (60_000 + n % 500) * PRICE_SCALE, "quantity": (n % 7) * QUANTITY_SCALE}]
        producer.produce_raw(MD_DEPTH, SYMBOL, codec.encode(DEPTH_UPDATE, update))
    producer.flush(300)


def _checkpointed_depth(settings: Settings) -> int:
    """How far into md.depth the stage's latest broadcast snapshot reaches."""
    topic = physical_name(settings, checkpoint_topic("orderpath"))
    found = read_checkpoints(settings, topic, ["risk", "oms", "venue", "portfolio"])
    snapshot = found.snapshots.get("exclusive")
    return 0 if snapshot is None else sum(o for (t, _), o in snapshot.positions.items() if t == MD_DEPTH)


def _new_order(account: str, symbol: str) -> dict[str, Any]:
    client_order_id = f"order-{time.time_ns()}"
    return example_event(
        NEW_ORDER,
        account=account,
        client_order_id=client_order_id,
        order_id=order_id_for(account, client_order_id),
        symbol=symbol,
        order_type="LIMIT",
        time_in_force="GTC",
        price=100 * PRICE_SCALE,
        quantity=QUANTITY_SCALE // 100,
        execution=None,
        parent_order_id=None,
        venue=None,
    )


@pytest.mark.timeout(900)
def test_a_restart_reads_the_snapshot_and_the_tail_not_the_history(catalogue_topics: Settings) -> None:
    settings = catalogue_topics
    first = start_worker("orderpath", env=settings.as_env())
    try:
        _produce_depth(settings, RECORDS)
        wait_for(lambda: _checkpointed_depth(settings) >= RECORDS, 600, f"a snapshot past {RECORDS} md.depth records")
    finally:
        first.process.kill()  # SIGKILL
        first.process.wait(10)

    account = "ACC-RESTART"
    order = _new_order(account, "ETHUSDT")
    producer = AvroProducer(settings)
    producer.produce(ORDERS_COMMANDS, account, NEW_ORDER, order)
    producer.flush()

    engine = KafkaEngine(stage_factories("orderpath"), settings, EngineOptions(), name="orderpath", exclusive=True)

    def stop_once_decided(stats: EngineStats) -> None:
        if stats.keyed >= 1:  # the order, in a committed transaction
            engine.stop()

    engine.run(max_seconds=120, on_batch=stop_once_decided)
    assert engine.stats.rebuilds >= 1 and engine.stats.replayed_broadcast < RECORDS // 100, engine.stats
    events = [d.record for d in read_events(settings, ORDERS_EVENTS) if d.record["order_id"] == order["order_id"]]
    assert [e["event_type"] for e in events][:2] == ["PENDING_NEW", "ACCEPTED"], events


@pytest.mark.timeout(300)
def test_a_first_start_reads_the_market_data_behind_it_before_serving_an_order(catalogue_topics: Settings) -> None:
    """Without a checkpoint the exclusive stage has no position to replay to: it reads the broadcast topics to
    their end before the first command, so no order meets a market book of hours ago."""
    settings = catalogue_topics
    behind = 20_000
    _produce_depth(settings, behind)
    order = _new_order("ACC-FIRST-START", SYMBOL)
    producer = AvroProducer(settings)
    producer.produce(ORDERS_COMMANDS, "ACC-FIRST-START", NEW_ORDER, order)
    producer.flush()

    engine = KafkaEngine(stage_factories("orderpath"), settings, EngineOptions(), name="orderpath", exclusive=True)
    read_before_the_order: list[int] = []

    def stop_once_decided(stats: EngineStats) -> None:
        if stats.keyed >= 1:
            read_before_the_order.append(stats.replayed_broadcast)
            engine.stop()

    engine.run(max_seconds=120, on_batch=stop_once_decided)
    assert read_before_the_order == [behind], engine.stats
