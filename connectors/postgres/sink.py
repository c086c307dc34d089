"""The PostgreSQL sink: orders.events, venue.executions and portfolio.positions → the projection tables.

Exactly once in effect: each batch's rows and the offsets it consumed are written in ONE database
transaction, and on start the consumer seeks to the offsets stored there (Kafka's committed offsets are
only written afterwards, for lag monitoring, and never read). A crash at any point either keeps a batch
whole (rows and offsets) or drops it whole, and the restart resumes right after the last kept batch.
Inputs are read ``read_committed``: an aborted processor transaction never reaches the tables.

One sink per database at a time (a session advisory lock): a second one waits until the first is gone.
A record that cannot be projected goes to ``ops.deadletters`` with the reason, flushed before the batch
commits (so at least once; its event id is stable for its source position, so duplicates are
recognisable), and the sink goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from connectors.postgres.migrate import migrate
from connectors.postgres.projection import (
    INPUTS,
    PROJECTION,
    BatchRows,
    Consumed,
    decode_batch,
    order_event_ids,
    order_ids,
    project,
)
from connectors.postgres.writer import BatchWriter
from processors.runtime.dead_letters import SourceRecord
from processors.runtime.metrics import ProcessMetrics
from schemas.codec import Codec, default_codec
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import DEAD_LETTERS
from topics.client import AvroProducer

log = logging.getLogger(__name__)

SINK_LOCK = 0x5351_5349_4E4B_0001  # pg_advisory_lock key held by the running sink ("SQSINK")

StopSignal = threading.Event | Callable[[], bool] | None


class SinkError(RuntimeError):
    """The sink cannot run; the message says what to do."""


class SinkBusy(SinkError):
    """Another sink holds the database's sink lock."""


@dataclass
class SinkOptions:
    batch_size: int = 5000
    poll_timeout_s: float = 0.05
    until_end: bool = False  # stop once every partition reached the end it had when the sink started
    lock_wait_s: float | None = None  # how long to wait for another sink to go; None: as long as it runs
    progress_every_s: float = 2.0
    projection: str = PROJECTION
    migrate: bool = True
    start_empty: bool = False  # a rebuild: drop the rows and offsets, rebuild, all in one transaction


@dataclass
class SinkStats:
    consumed: int = 0
    batches: int = 0
    order_events: int = 0
    orders: int = 0  # order row writes: one per touched order per batch
    fills: int = 0  # fill row writes: one per fill per batch that told of it (OMS and venue may be two)
    positions: int = 0  # position row writes: one per touched position per batch
    dead_letters: int = 0
    duplicates: int = 0  # order events found already projected (an upstream redelivery), skipped
    caught_up: bool = False
    write_seconds: float = 0.0  # inside the database transactions (COPY, merges, offsets, commit)
    started_at: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.order_events + self.orders + self.fills + self.positions

    def add(self, rows: BatchRows, consumed: int) -> None:
        self.consumed += consumed
        self.batches += 1
        self.order_events += len(rows.order_events)
        self.orders += len(rows.orders)
        self.fills += len(rows.fills)
        self.positions += len(rows.positions)
        self.dead_letters += len(rows.dead_letters)
        self.duplicates += rows.duplicates
        self.seconds = time.monotonic() - self.started_at

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        del document["started_at"]
        document["seconds"] = round(self.seconds, 3)
        document["write_seconds"] = round(self.write_seconds, 3)
        document["rows"] = self.rows
        document["records_per_second"] = round(self.consumed / self.seconds, 1) if self.seconds else None
        document["rows_per_second"] = round(self.rows / self.seconds, 1) if self.seconds else None
        return document


def run_sink(
    settings: Settings,
    max_seconds: float | None = None,
    stop: StopSignal = None,
    *,
    options: SinkOptions | None = None,
    on_progress: Callable[[SinkStats], None] | None = None,
    codec: Codec | None = None,
    metrics: ProcessMetrics | None = None,
) -> SinkStats:
    """Run the sink until ``stop`` is set, ``max_seconds`` pass, or (``until_end``) the inputs are drained.

    Losing the database after a successful start is survived: the sink reconnects with backoff and resumes
    from the offsets stored with the last committed batch (the batch in flight was rolled back whole).
    """
    options = options or SinkOptions()
    metrics = metrics or ProcessMetrics("sink")
    stopped = _stopper(stop)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    if options.migrate:
        migrate(settings.database_url)
    stats = SinkStats()
    backoff_s = 0.5
    while True:
        connected = False
        try:
            with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10) as conn:
                connected = True
                if not _take_lock(conn, options.lock_wait_s, stopped):
                    return stats  # stopped while another sink held the lock
                if options.start_empty:
                    # A rebuild empties the projection and builds it again in ONE transaction: readers see the
                    # old tables until the new ones are complete; one that does not reach the end changes nothing.
                    stats = SinkStats()
                    with conn.transaction():
                        BatchWriter(conn, options.projection).clear()
                        _run(
                            _Sink(settings, conn, options, codec or default_codec(), stats, metrics=metrics),
                            deadline,
                            stopped,
                            on_progress,
                        )
                        if not stats.caught_up:
                            raise psycopg.Rollback()
                    return stats
                return _run(
                    _Sink(settings, conn, options, codec or default_codec(), stats, metrics=metrics),
                    deadline,
                    stopped,
                    on_progress,
                )
        except psycopg.OperationalError as error:
            if not (connected or stats.batches) or stopped() or (deadline is not None and time.monotonic() >= deadline):
                raise
            log.warning("sink: lost the database (%s); resuming from the stored offsets in %.1f s", error, backoff_s)
            time.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 5.0)


def _run(
    sink: _Sink, deadline: float | None, stopped: Callable[[], bool], on_progress: Callable[[SinkStats], None] | None
) -> SinkStats:
    try:
        return sink.run(deadline, stopped, on_progress)
    finally:
        sink.close()


def _stopper(stop: StopSignal) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop


def _take_lock(conn: psycopg.Connection[Any], wait_s: float | None, stopped: Callable[[], bool]) -> bool:
    """Take the sink lock: True once held, False when stopped first; SinkBusy after ``wait_s``."""
    deadline = None if wait_s is None else time.monotonic() + wait_s
    warned = False
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (SINK_LOCK,)).fetchone()
        if row is not None and row[0]:
            return True
        if stopped():
            return False
        if deadline is not None and time.monotonic() >= deadline:
            raise SinkBusy("another sink is running on this database; stop it first (one sink per database)")
        if not warned:
            log.warning("another sink holds this database's sink lock; waiting for it to stop")
            warned = True
        time.sleep(0.2)


class _Sink:
    def __init__(
        self,
        settings: Settings,
        conn: psycopg.Connection[Any],
        options: SinkOptions,
        codec: Codec,
        stats: SinkStats,
        *,
        metrics: ProcessMetrics,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.options = options
        self.codec = codec
        self.writer = BatchWriter(conn, options.projection, one_transaction=options.start_empty)
        self.stats = stats
        self._logical = {physical_name(settings, topic): topic for topic in INPUTS}
        self._dead_letters: AvroProducer | None = None
        self.consumer = Consumer(
            settings.kafka_config(
                **{
                    "group.id": physical_name(settings, f"sq.sink.{options.projection}"),  # for lag monitoring only
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "isolation.level": "read_committed",
                    "auto.offset.reset": "earliest",  # only when a stored offset fell before the log start (retention)
                    "fetch.wait.max.ms": 20,
                }
            )
        )
        self._ends: dict[tuple[str, int], int] = {}
        self._positions: dict[tuple[str, int], int] = {}  # next offset to consume, of the batches handed over
        # One writer thread: batches commit one at a time, in consumption order.
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-writer")
        self._pending: Future[None] | None = None
        self._pending_batch: tuple[BatchRows, int] = (BatchRows(), 0)
        try:
            self._assign_from_stored_offsets()
        except BaseException:
            self.consumer.close()
            raise

    def _assign_from_stored_offsets(self) -> None:
        stored = self.writer.stored_offsets()
        assignment: list[TopicPartition] = []
        for name in self._logical:
            metadata = self.consumer.list_topics(name, timeout=30).topics[name]
            if metadata.error is not None:
                raise SinkError(f"topic {name} cannot be read: {metadata.error}; did `sq topics create` run?")
            for partition in sorted(metadata.partitions):
                low, high = self.consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=30)
                offset = stored.get((name, partition), OFFSET_BEGINNING)
                if offset > high:
                    raise SinkError(
                        f"the projection has consumed {name} [{partition}] up to offset {offset}, past its end {high}: "
                        "the topic was recreated; rebuild with `sq replay rebuild-projections`"
                    )
                if 0 <= offset < low:
                    log.warning(
                        "sink: %s [%d] starts at %d, after the stored offset %d (retention deleted records)",
                        name,
                        partition,
                        low,
                        offset,
                    )
                assignment.append(TopicPartition(name, partition, offset))
                self._positions[(name, partition)] = max(offset, low)
                self._ends[(name, partition)] = high
        self.consumer.assign(assignment)
        log.info(
            "sink %s: resuming %d partitions from stored offsets %s", self.options.projection, len(assignment), stored
        )

    def run(
        self, deadline: float | None, stopped: Callable[[], bool], on_progress: Callable[[SinkStats], None] | None
    ) -> SinkStats:
        last_progress = time.monotonic()
        while not stopped() and (deadline is None or time.monotonic() < deadline):
            if self.metrics.tick():
                self._sample_lag()
            if self.options.until_end and self._caught_up():
                self._settle()
                self._store_idle_positions()
                self.stats.caught_up = True
                break
            records = [self._consumed(m) for m in self._poll() if self._is_record(m)]
            if records:
                self._process(records)
            elif self._pending is None or self._pending.done():
                self._settle()  # idle: count the last write as soon as it is in
                self._store_idle_positions()
            if on_progress is not None and time.monotonic() - last_progress >= self.options.progress_every_s:
                on_progress(self.stats)
                last_progress = time.monotonic()
        self._settle()
        self.stats.seconds = time.monotonic() - self.stats.started_at
        return self.stats

    def _poll(self) -> list[Message]:
        """What has arrived, up to a batch; when nothing has, wait (poll timeout) for the first record only.

        Batching by size and by time at once: idle, a record is written as soon as it comes (consume(n, t)
        would wait the whole timeout for n); busy, a batch is what arrived while the previous one was written.
        """
        size = self.options.batch_size
        messages = self.consumer.consume(size, 0)
        if not messages:
            messages = self.consumer.consume(1, self.options.poll_timeout_s)
            if messages:
                messages += self.consumer.consume(size - 1, 0)
        return messages

    @staticmethod
    def _is_record(message: Message) -> bool:
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            log.warning("sink: consume error %s", error)
        return error is None

    def _consumed(self, message: Message) -> Consumed:
        source = SourceRecord.of(message)
        assert source.partition is not None and source.offset is not None  # a record always has them
        return Consumed(self._logical[source.topic], source)

    def _process(self, records: list[Consumed]) -> None:
        # Decoding needs no database, so it runs while the previous batch is written (a thread of its own:
        # psycopg waits for PostgreSQL without the GIL). The lookups must see that batch: they wait for it.
        decoded, rows = decode_batch(self.codec, records)
        self.metrics.events_in.update(consumed.logical_topic for consumed in records)
        self.metrics.dead_letters.update(str(emit.record["reason"]) for emit in rows.dead_letters)
        self.metrics.events_out[DEAD_LETTERS] += len(rows.dead_letters)
        self._settle()
        known, counts = self.writer.lookups(order_event_ids(decoded), order_ids(decoded))
        project(decoded, rows, known, counts)
        if rows.dead_letters:
            self._send_dead_letters(rows)
        self._positions.update(rows.offsets)
        self._pending = self._writes.submit(self._write, rows, min(c.source.time_us for c in records) // 1000)
        self._pending_batch = (rows, len(records))

    def _store_idle_positions(self) -> None:
        """Idle at the end of a partition that ends in transaction markers: store the position past them.

        A marker is no record, so no batch stores the offset after it; without this the stored offsets stay one
        behind the topic's end after every transaction and the projection's lag would never read 0.
        """
        assignment = [TopicPartition(topic, partition) for topic, partition in self._positions]
        ahead = {
            (tp.topic, tp.partition): tp.offset
            for tp in self.consumer.position(assignment)
            if tp.offset > self._positions[(tp.topic, tp.partition)]
        }
        if ahead:
            self._positions.update(ahead)
            self._write(BatchRows(offsets=ahead))  # offsets only: the rows before them are all written

    def _write(self, rows: BatchRows, oldest_timestamp_ms: int | None = None) -> None:
        began = time.monotonic()
        began_perf = time.perf_counter()
        self.writer.write(rows)
        self.stats.write_seconds += time.monotonic() - began
        if oldest_timestamp_ms is not None:
            self.metrics.observe_batch(began_perf, oldest_timestamp_ms)

    def _sample_lag(self) -> None:
        """Records between the consumed positions and the ends the consumer last heard of (no request)."""
        lag: dict[tuple[str, int], int] = {}
        for tp in self.consumer.position([TopicPartition(t, p) for t, p in self._positions]):
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if tp.offset >= 0 and high >= 0:
                lag[self._logical[tp.topic], tp.partition] = max(0, high - tp.offset)
        self.metrics.lag = lag
        self.metrics.active = True

    def _settle(self) -> None:
        """Wait for the batch being written; its failure (the transaction rolled back whole) is raised here."""
        if self._pending is None:
            return
        pending, (rows, consumed) = self._pending, self._pending_batch
        self._pending = None
        pending.result()
        self.stats.add(rows, consumed)
        committed = [TopicPartition(t, p, o) for (t, p), o in rows.offsets.items()]
        self.consumer.commit(offsets=committed, asynchronous=True)  # for lag tools; the database is the truth

    def _send_dead_letters(self, rows: BatchRows) -> None:
        if self._dead_letters is None:
            self._dead_letters = AvroProducer(self.settings, self.codec)
        for emit in rows.dead_letters:
            log.warning(
                "sink: dead letter for %s: %s", emit.record["meta"]["correlation_id"], emit.record["detail"][:200]
            )
            self._dead_letters.produce(emit.topic, emit.key, emit.schema, emit.record)
        self._dead_letters.flush()  # durable before the offsets that skip the records commit

    def _caught_up(self) -> bool:
        for key, end in self._ends.items():
            if self._positions[key] >= end:
                continue
            position = self.consumer.position([TopicPartition(*key)])[0].offset
            if position < end:  # a partition ending in transaction markers ends when the consumer passes them
                return False
        return True

    def close(self) -> None:
        self._writes.shutdown(wait=True)  # a write still running (the run failed) ends before its connection does
        self.consumer.close()
        if self._dead_letters is not None:
            self._dead_letters.flush()
