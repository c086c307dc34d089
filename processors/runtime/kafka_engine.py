"""The transactional confluent-kafka engine (the KIP-447 model).

One loop per worker: consume a batch of the core's input topics (one consumer group per processor, several
workers share the partitions) → decode → ``core.apply`` → in ONE Kafka transaction produce the outputs, the
changed state to the changelog and the consumed offsets (``send_offsets_to_transaction``). Readers use
``read_committed``, so an output is visible exactly when its input is marked consumed and its state saved:
a crash anywhere replays the batch from the last commit against the state of the last commit — nothing
lost, nothing applied twice.

Broadcast inputs (control events, reference market data) are read whole by every worker outside the group,
from the beginning, so their state needs no changelog.

Bad input never stops the loop: an undecodable record, or one the core cannot apply, becomes a dead letter
(with its bytes and the reason) in the same transaction as the offsets that skip it.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from processors.core import STATE_SUBKEY_SEPARATOR, Core, Emit
from processors.runtime.broadcast import assign_from_start, read_to_end
from processors.runtime.changelog import encode_state, ensure_changelog, read_partitions
from processors.runtime.dead_letters import SourceRecord
from processors.runtime.registry import consumer_group
from processors.runtime.step import apply_record
from schemas.codec import Codec, default_codec
from schemas.errors import SerializationError
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import DEAD_LETTERS
from topics.client import PARTITIONER

log = logging.getLogger(__name__)


@dataclass
class EngineOptions:
    worker: int = 0  # a stable slot number: a restarted worker fences its predecessor's open transaction at once
    batch_size: int = 500
    poll_timeout_s: float = 0.05
    fetch_wait_ms: int = 5  # low: latency matters more than fetch efficiency on the order path
    transaction_timeout_ms: int = 10_000
    session_timeout_ms: int = 10_000
    rebuild_wait_s: float = 60.0  # longest read of the broadcast history when the core is rebuilt
    barrier_wait_s: float = 1.0  # longest wait for a barrier topic's open transaction (see _catch_up_barrier)


@dataclass
class EngineStats:
    consumed: int = 0
    produced: int = 0
    dead_letters: int = 0
    transactions: int = 0
    restored_keys: int = 0
    started_at: float = field(default_factory=time.monotonic)


class KafkaEngine:
    def __init__(
        self,
        core_factory: Callable[[], Core],
        settings: Settings,
        options: EngineOptions | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.core_factory = core_factory
        self.core = core_factory()
        self.settings = settings
        self.options = options or EngineOptions()
        self.codec = codec or default_codec()
        self.stats = EngineStats()
        self.name = self.core.name
        self._stopping = False
        self._logical = {physical_name(settings, t): t for t in (*self.core.inputs, *self.core.broadcast_inputs)}
        self._key_partition: dict[str, int] = {}
        self._assigned: list[int] = []
        self._barrier: list[TopicPartition] = []
        self._all_broadcast: list[TopicPartition] = []
        self.changelog = ensure_changelog(settings, self.core)
        group = consumer_group(settings, "kafka", self.name)
        self.consumer = Consumer(
            settings.kafka_config(
                **{
                    "group.id": group,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": self.options.fetch_wait_ms,
                    # co-partitioned inputs: partition p of each to one worker
                    "partition.assignment.strategy": "range",
                    # Static membership: a restarted worker of the same slot takes its partitions back without
                    # waiting for the dead member's session to expire; a slot gone for good is reassigned after it.
                    "group.instance.id": f"{group}.{self.options.worker}",
                    "session.timeout.ms": self.options.session_timeout_ms,
                }
            )
        )
        self.broadcast = self._broadcast_consumer() if self.core.broadcast_inputs else None
        self.producer = Producer(
            settings.kafka_config(
                **{
                    "transactional.id": f"{group}.{self.options.worker}",
                    "transaction.timeout.ms": self.options.transaction_timeout_ms,
                    "partitioner": PARTITIONER,
                    "linger.ms": 1,
                }
            )
        )
        self.producer.init_transactions(30)

    # -- lifecycle ----------------------------------------------------------------------------------
    def stop(self, *_: Any) -> None:
        self._stopping = True

    def run(self, max_seconds: float | None = None, on_batch: Callable[[EngineStats], None] | None = None) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        self.consumer.subscribe(
            [physical_name(self.settings, t) for t in self.core.inputs],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not self._stopping and (deadline is None or time.monotonic() < deadline):
                self._drain_broadcast()
                # Wait for the first record only, then take what has already arrived: consume(n, timeout)
                # would hold a partial batch for the whole timeout, adding up to that much to every hop.
                messages = self.consumer.consume(1, self.options.poll_timeout_s)
                if messages:
                    messages += self.consumer.consume(self.options.batch_size - 1, 0)
                    self._catch_up_barrier()
                    self._process(messages)
                    if on_batch is not None:
                        on_batch(self.stats)
        finally:
            self.close()

    def close(self) -> None:
        self.consumer.close()
        if self.broadcast is not None:
            self.broadcast.close()
        self.producer.flush(10)

    # -- assignment and state -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = sorted({tp.partition for tp in partitions})
        self._rebuild(self._assigned)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = []  # the next assignment rebuilds the core: no state of keys owned elsewhere stays

    def _rebuild(self, partitions: list[int]) -> None:
        """A fresh core: broadcast state first, then the keyed state of ``partitions`` from the changelog.

        In that order, re-reading the broadcast history (marks, kill switches) meets no keyed state, so it
        emits nothing: the outputs it caused the first time are in the log already.
        """
        self.core = self.core_factory()
        self._key_partition.clear()
        if self.broadcast is not None:
            self.broadcast.close()
            self.broadcast = self._broadcast_consumer()
            self._read_to_end(self._all_broadcast, self.options.rebuild_wait_s)
        self._restore(partitions)

    def _restore(self, partitions: list[int]) -> None:
        """Rebuild the core's state for these partitions from the changelog, before any event."""
        latest: dict[str, tuple[int, Any]] = {}
        for partition, key, state in read_partitions(self.settings, self.changelog, partitions):
            latest[key] = (partition, state)
        for key, (partition, state) in latest.items():
            self._key_partition[key.split(STATE_SUBKEY_SEPARATOR, 1)[0]] = partition
            if state is not None:
                self.core.restore(key, state)
        self.stats.restored_keys += len(latest)
        log.info("%s: restored %d keys from %s partitions %s", self.name, len(latest), self.changelog, partitions)

    def _reset_after_abort(self) -> None:
        """An aborted batch left the core's memory ahead of the log: rebuild it and rewind to committed offsets."""
        self._rebuild(self._assigned)
        committed = self.consumer.committed(self.consumer.assignment(), timeout=30)
        for tp in committed:
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))

    # -- broadcast inputs ---------------------------------------------------------------------------
    def _broadcast_consumer(self) -> Consumer:
        consumer = Consumer(
            self.settings.kafka_config(
                **{
                    "group.id": f"sq-broadcast-{self.name}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": self.options.fetch_wait_ms,
                }
            )
        )
        assigned = assign_from_start(consumer, [physical_name(self.settings, t) for t in self.core.broadcast_inputs])
        barrier = {physical_name(self.settings, t) for t in getattr(self.core, "barrier_inputs", ())}
        self._barrier = [tp for tp in assigned if tp.topic in barrier]
        self._all_broadcast = assigned
        return consumer

    def _drain_broadcast(self) -> None:
        """Apply every broadcast record available now, before the next batch (a kill switch acts at once)."""
        if self.broadcast is None:
            return
        while True:
            messages = self.broadcast.consume(self.options.batch_size, 0)
            if not messages:
                return
            self._process(messages, commit_offsets=False)

    def _catch_up_barrier(self) -> None:
        """Apply the barrier topics' records up to the broker's end before a batch of commands.

        Kafka orders nothing across topics: without this, a kill switch acknowledged a moment before a
        command could still be fetched after it. One watermark round trip per batch buys "the next command
        after a control event sees it". An open transaction on the topic holds the readable end back; we
        wait for it at most ``barrier_wait_s`` rather than stall the order path.
        """
        if self._barrier:
            self._read_to_end(self._barrier, self.options.barrier_wait_s)

    def _read_to_end(self, partitions: list[TopicPartition], wait_s: float) -> None:
        """Apply broadcast records of ``partitions`` up to their end offsets as of now (at most ``wait_s``)."""
        if self.broadcast is not None and partitions:
            read_to_end(
                self.broadcast,
                partitions,
                wait_s,
                lambda m: self._process(m, commit_offsets=False),
                self.options.batch_size,
            )

    # -- the transactional step ---------------------------------------------------------------------
    def _process(self, messages: list[Message], commit_offsets: bool = True) -> None:
        try:
            self.producer.begin_transaction()
            for message in messages:
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("%s: consume error %s", self.name, message.error())
                    continue
                self.stats.consumed += 1
                for emit in self._apply(message):
                    self._produce(emit)
            for key, state in self.core.state_changes().items():
                partition = self._key_partition.get(key.split(STATE_SUBKEY_SEPARATOR, 1)[0])
                if partition is None:
                    raise RuntimeError(f"{self.name}: state key {key!r} changed without a known partition")
                self.producer.produce(self.changelog, encode_state(state), key.encode(), partition=partition)
            if commit_offsets:
                positions = self.consumer.position(self.consumer.assignment())
                self.producer.send_offsets_to_transaction(positions, self.consumer.consumer_group_metadata(), 30)
            self.producer.commit_transaction(30)
            self.stats.transactions += 1
        except KafkaException as error:
            kafka_error = error.args[0]
            if kafka_error.txn_requires_abort():
                log.warning("%s: aborting a transaction (%s); rewinding", self.name, kafka_error)
                self.producer.abort_transaction(30)
                self._reset_after_abort()
                return
            raise  # fatal (e.g. fenced by a newer worker of the same slot): stop this worker

    def _apply(self, message: Message) -> list[Emit]:
        source = SourceRecord.of(message)
        if source.key is not None:
            self._key_partition[source.key.decode()] = message.partition()
        return apply_record(self.core, self.codec, self._logical[message.topic()], source)

    def _produce(self, emit: Emit) -> None:
        try:
            value = self.codec.encode(emit.schema, emit.record)
        except SerializationError as error:
            raise RuntimeError(f"{self.name} emitted an invalid {emit.schema}: {error}") from error
        self.producer.produce(physical_name(self.settings, emit.topic), value, emit.key.encode())
        self.stats.produced += 1
        if emit.topic == DEAD_LETTERS:
            self.stats.dead_letters += 1
        self.producer.poll(0)
