"""The log as audit trail and replay source: audit look-ups in a large log, storage per order, replay speed.

    python -m bench.audit_replay [--orders N] [--lookups K] [--replay-orders M] [--kafka-data-dir DIR] [--json]

1. A session of N orders (`sq flow`'s seeded mix: fills, cancels, amends, invalid orders) is run through the
   order path's cores in the memory engine, and its inputs and every output are produced to a run prefix's
   topics, each output record with its input's timestamp, as the kafka engine would write them (fast: no
   workers, no transactions). Default N = 1,000,000.
2. Storage: bytes the session holds per topic (keys + values as produced; with --kafka-data-dir, also the
   broker's segment files of the run's topics on disk) and the audit index's PostgreSQL size, per million orders.
3. The audit index is built (`catch_up`, timed), then K random orders are audited (`audit_order`: the catch-up
   check, the index look-up, the fetch from Kafka, the story): p50/p99 per order.
4. Replay: a session of M orders (default 50,000) on its own prefix; its input topics consumed and decoded (the
   raw floor), then the orderpath stage replayed from them (`replay_stage`: consume, decode, order, apply); the
   figure is replay events/s ÷ raw consume+decode events/s of the same run, and the replay is diffed against
   the produced outputs (it must show 0 differences).
The run's topics and its database (a new one, migrated: never the shared one) are deleted at the end.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from confluent_kafka import Producer

from bench.common import Figure, Reporter, latency_stats, open_report
from connectors.audit.index import INDEXED_TOPICS, catch_up
from connectors.audit.read import audit_order
from connectors.order_flow import FlowConfig
from connectors.postgres.databases import scratch_database
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import Pipeline
from processors.runtime.registry import stage_factories
from replay.session import diff_session, replay_stage
from schemas.codec import Codec, default_codec
from settings import Settings
from tests.kit.flows import flow_events
from topics.admin import create_topics, delete_prefixed_topics, physical_name
from topics.catalogue import CATALOGUE, ORDERS_COMMANDS
from topics.client import PRODUCER_DEFAULTS, read_topic

STAGE = "orderpath"


def produce_session(settings: Settings, orders: int, codec: Codec, progress: Any) -> tuple[list[str], dict[str, int]]:
    """Run N orders through the cores and produce inputs and outputs; the order ids and bytes per topic."""
    engine = MemoryEngine(stage_factories(STAGE), name=STAGE)
    producer = Producer(settings.kafka_config(**{**PRODUCER_DEFAULTS, "linger.ms": 50, "batch.size": 1_000_000}))
    sizes: dict[str, int] = defaultdict(int)
    order_ids: list[str] = []
    names: dict[str, str] = {}

    def send(topic: str, key: str, value: bytes, timestamp_ms: int) -> None:
        name = names.get(topic) or names.setdefault(topic, physical_name(settings, topic))
        while True:
            try:
                producer.produce(name, value, key.encode(), timestamp=timestamp_ms)
                break
            except BufferError:
                producer.poll(0.05)
        sizes[topic] += len(value) + len(key)

    events = flow_events(FlowConfig(orders=orders, seed=3, accounts=100, run_id="bench"))
    began = time.monotonic()
    for count, flow_event in enumerate(events, 1):
        timestamp_ms = flow_event.ingest_time_us // 1000
        event = flow_event._replace(ingest_time_us=timestamp_ms * 1000)  # what a consumer sees: the broker's ms
        send(event.topic, event.key or "", codec.encode(event.schema, dict(event.record)), timestamp_ms)
        if event.topic == ORDERS_COMMANDS and "client_order_id" in event.record:
            order_ids.append(str(event.record["order_id"]))
        for emit in engine.send(event):
            send(emit.topic, emit.key, codec.encode(emit.schema, emit.record), timestamp_ms)
        engine.outputs.clear()
        if count % 50_000 == 0:
            producer.poll(0)
            progress(
                f"{count:,}/{len(events):,} inputs through the cores and produced ({time.monotonic() - began:.0f} s)"
            )
    remaining = producer.flush(120)
    if remaining:
        raise RuntimeError(f"{remaining} records not delivered")
    return order_ids, dict(sizes)


def disk_bytes(data_dir: Path, settings: Settings) -> int:
    return sum(
        file.stat().st_size
        for folder in data_dir.glob(f"{settings.topic_prefix}*")
        for file in folder.iterdir()
        if file.is_file()
    )


def index_bytes(conninfo: str, settings: Settings) -> int:
    """The run's share of the shared index tables: its rows (with tuple header and line pointer, 28 bytes) and
    their b-tree entries on ``ref`` (key plus 16 bytes); the table's own size would count other runs' free space."""
    topics = [physical_name(settings, topic) for topic in INDEXED_TOPICS]
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_column_size(t.*) + 28 + pg_column_size(t.ref) + 16), 0) "
            "FROM audit_index t WHERE topic = ANY(%s)",
            (topics,),
        ).fetchone()
    return int(row[0]) if row is not None else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--replay-orders", type=int, default=50_000)
    parser.add_argument("--kafka-data-dir", type=Path, default=None, help="the broker's log.dirs, for bytes on disk")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reporter, server, _info = open_report("audit and replay on the log", args.json)
    codec = default_codec()
    run = f"bench-{random.randrange(16**8):08x}."
    with scratch_database(server.database_url, "bench_audit", migrated=True) as database:
        base = server.with_database_url(database)
        audit_settings = base.with_topic_prefix(f"{run}audit.")
        replay_settings = base.with_topic_prefix(f"{run}replay.")
        try:
            audit_phase(reporter, base, audit_settings, args, codec)
            replay_phase(reporter, replay_settings, args.replay_orders, codec)
        finally:
            delete_prefixed_topics(base.with_topic_prefix(run))
    reporter.finish()
    return 0


def audit_phase(
    reporter: Reporter, base: Settings, audit_settings: Settings, args: argparse.Namespace, codec: Codec
) -> None:
    create_topics(audit_settings, CATALOGUE)
    began = time.monotonic()
    order_ids, sizes = produce_session(audit_settings, args.orders, codec, reporter.progress)
    reporter.progress(f"session of {len(order_ids):,} orders produced in {time.monotonic() - began:.0f} s")
    per_million = 1_000_000 / len(order_ids)
    reporter.figure(
        Figure(
            "storage",
            "log bytes per million orders",
            sum(sizes.values()) * per_million / 2**20,
            "MiB",
            "keys + values as produced",
            extra={t: round(b * per_million / 2**20, 1) for t, b in sizes.items()},
        )
    )
    stats = catch_up(
        audit_settings, base.database_url, on_progress=lambda s: reporter.progress(f"indexed {s.records:,} records")
    )
    reporter.figure(
        Figure(
            "audit",
            "index build",
            stats.records / stats.seconds,
            "records/s",
            f"{stats.records:,} records, {stats.rows:,} rows in {stats.seconds:.1f} s",
        )
    )
    reporter.figure(
        Figure(
            "storage",
            "audit index per million orders",
            index_bytes(base.database_url, audit_settings) * per_million / 2**20,
            "MiB",
            "the run's rows and their b-tree entries",
        )
    )
    if args.kafka_data_dir is not None:
        time.sleep(1.0)
        reporter.figure(
            Figure(
                "storage",
                "broker segments per million orders",
                disk_bytes(args.kafka_data_dir, audit_settings) * per_million / 2**20,
                "MiB",
                "segment + index files of the run's topics",
            )
        )
    samples = []
    lines = 0
    for order_id in random.Random(1).sample(order_ids, min(args.lookups, len(order_ids))):
        start = time.perf_counter()
        audit = audit_order(audit_settings, order_id, codec=codec)
        samples.append((time.perf_counter() - start) * 1e6)
        lines += len(audit.lines)
    stats_us = latency_stats(np.array(samples))
    reporter.figure(
        Figure(
            "audit",
            "one order, p50",
            stats_us["p50"] / 1000,
            "ms",
            f"{len(order_ids):,} orders in the log; {lines / len(samples):.1f} lines per order",
            extra=stats_us,
        )
    )
    reporter.figure(Figure("audit", "one order, p99", stats_us["p99"] / 1000, "ms", "aim <= 200 ms"))


def replay_phase(reporter: Reporter, replay_settings: Settings, orders: int, codec: Codec) -> None:
    create_topics(replay_settings, CATALOGUE)
    produce_session(replay_settings, orders, codec, reporter.progress)
    pipeline = Pipeline([factory() for factory in stage_factories(STAGE)], STAGE)
    began = time.monotonic()
    raw = 0
    for topic in (*pipeline.inputs, *pipeline.broadcast_inputs):
        for consumed in read_topic(replay_settings, topic):
            if consumed.value is not None:
                codec.decode(consumed.value)
            raw += 1
    raw_s = time.monotonic() - began
    replayed = replay_stage(replay_settings, STAGE, codec)
    diff = diff_session([replayed])
    replay_s = replayed.input_seconds + replayed.apply_seconds
    reporter.figure(Figure("replay", "raw consume + decode", raw / raw_s, "events/s", f"{raw:,} input records"))
    reporter.figure(
        Figure(
            "replay",
            "replay through the cores",
            replayed.inputs / replay_s,
            "events/s",
            f"inputs read {replayed.input_seconds:.1f} s, cores {replayed.apply_seconds:.1f} s; "
            f"{diff.differences} differences in {diff.compared:,}",
            extra={"differences": diff.differences, "compared": diff.compared, "forced": replayed.forced},
        )
    )
    reporter.figure(Figure("replay", "replay ÷ raw", raw_s / replay_s * replayed.inputs / raw, "ratio", "aim >= 0.8"))


if __name__ == "__main__":
    raise SystemExit(main())
