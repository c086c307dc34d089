"""The audit index: order id → where its records are in the log (topic, partition, offsets), in PostgreSQL.

Why an index of positions and not a projection of the records: the story an audit tells must be the log's
own records, byte for byte as the processors wrote them, so the index only says *where* to read; the records
are then fetched from Kafka at exactly those offsets (connectors/audit/fetch.py).

The index keeps itself current: ``catch_up`` reads every indexed partition from the offset it stored up to the
partition's end as of the call, and writes the rows and the new offsets in one transaction per batch (a crash
keeps a batch whole or drops it whole, so no record is indexed twice). An audit calls it first, so an answer
never misses a record the broker had committed when it was asked; when nothing is new that costs one
ListOffsets request (at the last stable offset: an open transaction is not waited for). A session advisory
lock lets one indexer write at a time; another waits, then finds little or nothing left to read.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer, IsolationLevel, KafkaException, Message, TopicPartition
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]  # exported, untyped

from connectors.audit.fetch import arrived, audit_consumer
from schemas.codec import Codec, default_codec
from schemas.errors import SerializationError
from settings import Settings
from topics.admin import admin_client, physical_name
from topics.catalogue import (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_DECISIONS,
    VENUE_EXECUTIONS,
    VENUE_ORDERS,
)

AUDIT_INDEX_LOCK = 0x5351_4155_4449_5458  # pg_advisory_lock key of the indexer ("SQAUDITX")

# The topics an order's story is made of, in the order a story usually unfolds.
INDEXED_TOPICS: tuple[str, ...] = (
    ORDERS_COMMANDS,
    RISK_DECISIONS,
    ORDERS_EVENTS,
    VENUE_ORDERS,
    VENUE_EXECUTIONS,
    PORTFOLIO_POSITIONS,
)

Position = tuple[str, int]  # (physical topic, partition)


class LogUnavailable(RuntimeError):
    """A topic cannot be read (missing, or the broker does not answer in time)."""


@dataclass
class IndexStats:
    records: int = 0  # records read by this catch-up
    rows: int = 0  # index rows written
    batches: int = 0
    unreadable: int = 0  # records that do not decode (the pipeline dead-letters them; nothing to index)
    seconds: float = 0.0
    behind: dict[str, int] = field(default_factory=dict)  # physical topic -> records still to read at the start

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rows": self.rows,
            "batches": self.batches,
            "unreadable": self.unreadable,
            "seconds": round(self.seconds, 3),
        }


def refs_of(topic: str, record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(ref, parent order id) a record of a logical ``topic`` is indexed under.

    A position is indexed under the event id of its cause: the order event whose fill moved it (a re-mark by a
    trade is caused by the trade and joins no order's story)."""
    if topic == PORTFOLIO_POSITIONS:
        return record["meta"]["causation_id"], None
    return record.get("order_id"), record.get("parent_order_id")


def catch_up(
    settings: Settings,
    conninfo: str,
    *,
    codec: Codec | None = None,
    batch_size: int = 50_000,
    on_progress: Callable[[IndexStats], None] | None = None,
    timeout_s: float = 600.0,
    consumer: Consumer | None = None,
) -> IndexStats:
    """Index every record of the indexed topics up to their ends as of the call (see the module docstring).
    ``consumer``: an ``audit_consumer`` to reuse (its assignment is replaced); else one is made and closed."""
    codec = codec or default_codec()
    began = time.monotonic()
    stats = IndexStats()
    logical = {physical_name(settings, topic): topic for topic in INDEXED_TOPICS}
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (AUDIT_INDEX_LOCK,))
        try:
            stored = _stored_offsets(conn, logical)
            own = consumer is None
            consumer = consumer or audit_consumer(settings)
            try:
                ends = _ends(settings, logical, stored)
                stats.behind = _behind(ends, stored)
                if ends:
                    consumer.assign([TopicPartition(t, p, stored.get((t, p), 0)) for t, p in ends])
                    reading = _Reading(settings.topic_prefix, consumer, conn, codec, logical)
                    reading.run(ends, stats, batch_size, on_progress, timeout_s)
            finally:
                if own:
                    consumer.close()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (AUDIT_INDEX_LOCK,))
    stats.seconds = time.monotonic() - began
    return stats


def _stored_offsets(conn: psycopg.Connection[Any], logical: Mapping[str, str]) -> dict[Position, int]:
    rows = conn.execute(
        "SELECT topic, partition, next_offset FROM audit_index_offsets WHERE topic = ANY(%s)", (list(logical),)
    ).fetchall()
    return {(topic, partition): offset for topic, partition, offset in rows}


def _ends(settings: Settings, logical: Mapping[str, str], stored: Mapping[Position, int]) -> dict[Position, int]:
    """The partitions with committed records past the stored offset, and where each one's committed records end.

    One ListOffsets request for every partition, at the last stable offset (read_committed): an open transaction
    holds it back, so a catch-up never waits for a transaction to end (its records join the next audit).
    """
    admin = admin_client(settings)
    try:
        wanted = {}
        for name in logical:
            metadata = admin.list_topics(name, timeout=10).topics.get(name)
            if metadata is None or metadata.error is not None:
                raise LogUnavailable(f"no topic {name} on the broker; did `sq topics create` run?")
            for partition in metadata.partitions:
                wanted[TopicPartition(name, partition)] = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        futures = admin.list_offsets(wanted, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=10)
        ends = {(tp.topic, tp.partition): future.result(timeout=10).offset for tp, future in futures.items()}
    except (KafkaException, TimeoutError) as error:
        raise LogUnavailable(f"the broker did not give the topics' ends: {error}") from None
    return {key: end for key, end in ends.items() if end > stored.get(key, 0)}


def _behind(ends: Mapping[Position, int], stored: Mapping[Position, int]) -> dict[str, int]:
    behind: dict[str, int] = defaultdict(int)
    for (topic, partition), end in ends.items():
        behind[topic] += end - stored.get((topic, partition), 0)
    return dict(behind)


class _Batch:
    """One transaction's worth: the offsets of each (ref, partition), the child links, the positions reached."""

    def __init__(self, topic_prefix: str) -> None:
        self.topic_prefix = topic_prefix
        self.offsets: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        self.children: set[tuple[str, str]] = set()
        self.positions: dict[Position, int] = {}
        self.records = 0

    def add(self, ref: str | None, parent: str | None, topic: str, partition: int, offset: int) -> None:
        if ref:
            self.offsets[(ref, topic, partition)].append(offset)
            if parent:
                self.children.add((parent, ref))

    def write(self, conn: psycopg.Connection[Any]) -> int:
        with conn.transaction():
            with conn.cursor().copy("COPY audit_index (ref, topic, partition, offsets) FROM STDIN") as copy:
                for (ref, topic, partition), offsets in self.offsets.items():
                    copy.write_row((ref, topic, partition, offsets))
            if self.children:
                conn.cursor().executemany(
                    "INSERT INTO audit_children (topic_prefix, parent_order_id, order_id) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(self.topic_prefix, parent, child) for parent, child in sorted(self.children)],
                )
            conn.cursor().executemany(
                "INSERT INTO audit_index_offsets (topic, partition, next_offset) VALUES (%s, %s, %s) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                [(topic, partition, offset) for (topic, partition), offset in self.positions.items()],
            )
        return len(self.offsets)


class _Reading:
    """One catch-up's reading loop: records in, index batches written."""

    def __init__(
        self,
        topic_prefix: str,
        consumer: Consumer,
        conn: psycopg.Connection[Any],
        codec: Codec,
        logical: Mapping[str, str],
    ) -> None:
        self.topic_prefix = topic_prefix
        self.consumer = consumer
        self.conn = conn
        self.codec = codec
        self.logical = logical

    def run(
        self,
        ends: Mapping[Position, int],
        stats: IndexStats,
        batch_size: int,
        on_progress: Callable[[IndexStats], None] | None,
        timeout_s: float,
    ) -> None:
        remaining = dict(ends)
        batch = _Batch(self.topic_prefix)
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise LogUnavailable(
                    f"the audit index did not reach the end of {sorted(remaining)} within {timeout_s} s"
                )
            for message in arrived(self.consumer, 0.2, batch=5000):
                if message.error() is None:
                    self._take(message, batch, stats, remaining)
            # A partition whose last offsets are transaction markers ends when the consumer has passed them.
            for key in _passed(self.consumer, remaining):
                end = remaining.pop(key)
                batch.positions[key] = max(batch.positions.get(key, 0), end)  # never behind a record it holds
            if batch.records >= batch_size or not remaining:
                stats.rows += batch.write(self.conn)
                stats.records += batch.records
                stats.batches += 1
                batch = _Batch(self.topic_prefix)
                if on_progress is not None:
                    on_progress(stats)

    def _take(self, message: Message, batch: _Batch, stats: IndexStats, remaining: dict[Position, int]) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None  # a record has them
        value = message.value()
        try:
            found = self.codec.decode(value) if value is not None else None
        except SerializationError:
            found = None
        if found is None:
            stats.unreadable += 1
        else:
            ref, parent = refs_of(self.logical[topic], found.record)
            batch.add(ref, parent, topic, partition, offset)
        batch.records += 1
        batch.positions[(topic, partition)] = offset + 1
        if (topic, partition) in remaining and offset + 1 >= remaining[(topic, partition)]:
            del remaining[(topic, partition)]


def _passed(consumer: Consumer, remaining: Mapping[Position, int]) -> Iterable[Position]:
    if not remaining:
        return []
    positions = consumer.position([TopicPartition(topic, partition) for topic, partition in remaining])
    return [(tp.topic, tp.partition) for tp in positions if tp.offset >= remaining[(tp.topic, tp.partition)]]


def lookup(conn: psycopg.Connection[Any], settings: Settings, refs: Iterable[str]) -> dict[Position, list[int]]:
    """Every indexed position of records under ``refs`` in ``settings``' topics, by partition, offsets ascending."""
    found: dict[Position, set[int]] = defaultdict(set)
    topics = [physical_name(settings, topic) for topic in INDEXED_TOPICS]
    rows = conn.execute(
        "SELECT topic, partition, offsets FROM audit_index WHERE ref = ANY(%s) AND topic = ANY(%s)",
        (list(refs), topics),
    ).fetchall()
    for topic, partition, offsets in rows:
        found[(topic, partition)].update(offsets)
    return {key: sorted(offsets) for key, offsets in found.items()}


def children_of(conn: psycopg.Connection[Any], settings: Settings, order_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT order_id FROM audit_children WHERE topic_prefix = %s AND parent_order_id = %s ORDER BY order_id",
        (settings.topic_prefix, order_id),
    ).fetchall()
    return [row[0] for row in rows]
