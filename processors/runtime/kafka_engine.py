"""The transactional confluent-kafka engine (the KIP-447 model), running one stage's pipeline of cores.

One loop per worker: consume a batch of the stage's inputs → decode → the pipeline (cores handing each other
their outputs in process) → in ONE Kafka transaction produce every output, every core's changed state to its
changelog, a broadcast snapshot when one is due, and where the worker is in its inputs. Readers use
``read_committed``, so an output is visible exactly when its input is marked consumed and its state saved: a
crash anywhere replays the batch from the last commit against the state of the last commit.

Ownership, by the stage's kind (``StageSpec.exclusive``):

- *group* stages (a core alone, ``account``, ``venue``): the keyed inputs are one consumer group, split by
  partition over the stage's workers (range assignment: partition p of every input to one worker); static
  membership gives a restarted worker its partitions back at once. The consumed offsets go into the
  transaction with ``send_offsets_to_transaction`` (KIP-447): a worker whose partitions moved on is fenced.
- *exclusive* stages (``orderpath``: accounts and symbols in one process): the workers elect one active worker
  through a one-partition lease topic; it owns every partition of every input. Its positions in every input,
  broadcast ones included, are a record in the transaction (``checkpoints``), so its restarts are exact for
  broadcast inputs too, and a transaction needs no round trips to a group coordinator. The others stand by.
  All share one transactional id: the new active worker fences a stale one on its first call.

Batches adapt to the load: the loop waits for the first record only, then takes what has arrived, up to
``batch_size``; at low load a command is one commit away from its outputs, at high load a commit carries many.

Broadcast inputs (control events, market data) are read whole by every worker outside the group. Their
state comes back from the stage's latest snapshot plus the records after its positions (``checkpoints``), never
from the beginning of the topics. Barrier inputs (risk's ``control.events``) are read up to the broker's end
before every batch of keyed records: a kill switch acknowledged before a command was consumed acts on it.

Faults. Bad input never stops the loop (``step``: a dead letter in the same transaction as the offsets that
skip it). Retriable Kafka errors (timeouts, coordinator moves, transport) are retried with backoff; an abortable
one aborts the transaction and rewinds (a fresh pipeline rebuilt from the changelog, consumers back to the
committed offsets); a fatal one (a producer fenced because its transaction timed out during an outage, a static
consumer fenced by its own rejoin after a broker restart) gets the engine new clients in process, a rebuilt
pipeline, and it goes on. The worker itself does not exit for any of them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from types import FrameType
from typing import Any, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from processors.core import Core
from processors.runtime.changelog import changelog_partitions, changelog_wanted, read_partitions, state_partition
from processors.runtime.checkpoints import Checkpoints, Positions, positions_record, read_checkpoints, snapshot_record
from processors.runtime.dead_letters import SourceRecord, coordinates, dead_letter
from processors.runtime.metrics import ProcessMetrics, kill_switches_of
from processors.runtime.pipeline import Pipeline
from processors.runtime.state_codec import encode_state
from processors.runtime.step import InputCheck, apply_record
from schemas.codec import Codec, default_codec
from schemas.errors import SerializationError
from settings import Settings
from topics.admin import ensure_topics, physical_name
from topics.catalogue import CHECKPOINT_CONFIG, DEAD_LETTERS, checkpoint_topic, lease_topic, stage_group
from topics.partitioning import PARTITIONER

log = logging.getLogger(__name__)

T = TypeVar("T")
EXCLUSIVE_OWNER = "exclusive"
_IDLE_ERRORS = frozenset({KafkaError._PARTITION_EOF})
IDLE_COMMIT_S = 0.1
SEND_OFFSETS_TIMEOUT_S = 10.0


@dataclass
class EngineOptions:
    worker: int = 0  # a stable slot number: a restarted worker fences its predecessor's open transaction at once
    batch_size: int = 500  # most input records per transaction
    poll_timeout_s: float = 0.05
    fetch_wait_ms: int = 5  # low: latency matters more than fetch efficiency on the order path
    linger_ms: int = 1
    # librdkafka waits this long before retrying a request. Back-to-back transactions meet
    # CONCURRENT_TRANSACTIONS on AddOffsetsToTxn while the broker completes the previous commit; at the default
    # 100 ms nearly every busy group-stage transaction lost that much (bench.tx_probe: p50 97 ms, 4 ms at 10).
    retry_backoff_ms: int = 10
    transaction_timeout_ms: int = 60_000  # long enough to ride out a broker restart with a transaction open
    session_timeout_ms: int = 10_000
    rebuild_wait_s: float = 60.0  # longest read of a changelog; longest stall of the broadcast tail when rebuilding
    barrier_wait_s: float = 1.0  # longest wait for a barrier topic's open transaction (see _read_barrier)
    snapshot_interval_s: float = 5.0  # broadcast snapshots at most this often (restart reads the tail after it)
    retry_max_backoff_s: float = 2.0


def is_fatal(error: KafkaError) -> bool:
    """A client's error that leaves it unusable. A consumer reports its fatal state (a static member fenced
    after its session timed out while the group coordinator moved: found by `sq chaos broker`) as a ``_FATAL``
    record whose own fatal flag is not set."""
    return bool(error.fatal()) or error.code() == KafkaError._FATAL


def parse_options(pairs: Sequence[str], base: EngineOptions | None = None) -> EngineOptions:
    """``EngineOptions`` with ``NAME=VALUE`` pairs applied (``batch_size=100``); ValueError names a bad one."""
    options = base or EngineOptions()
    kinds = {f.name: f.type for f in fields(EngineOptions)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in kinds:
            raise ValueError(f"engine option {pair!r}: expected NAME=VALUE with NAME one of {', '.join(kinds)}")
        try:
            changes[name] = float(value) if kinds[name] in ("float", float) else int(value)
        except ValueError:
            raise ValueError(f"engine option {name}: {value!r} is not a number") from None
    return replace(options, **changes)


@dataclass
class EngineStats:
    consumed: int = 0  # records applied, keyed and broadcast
    keyed: int = 0  # of them, keyed records (commands, limits, executions …)
    produced: int = 0
    dead_letters: int = 0
    transactions: int = 0
    aborts: int = 0
    retries: int = 0
    rebuilds: int = 0
    client_restarts: int = 0
    restored_keys: int = 0
    snapshots: int = 0
    replayed_broadcast: int = 0
    active: bool = False
    started_at: float = field(default_factory=time.monotonic)


class KafkaEngine:
    """One worker of one stage (see the module docstring)."""

    def __init__(
        self,
        core_factories: Sequence[Callable[[], Core]],
        settings: Settings,
        options: EngineOptions | None = None,
        codec: Codec | None = None,
        *,
        name: str | None = None,
        exclusive: bool = False,
        metrics: ProcessMetrics | None = None,
    ) -> None:
        self.factories = tuple(core_factories)
        self.settings = settings
        self.options = options or EngineOptions()
        self.codec = codec or default_codec()
        self.exclusive = exclusive
        self.pipeline = Pipeline([factory() for factory in self.factories], name)
        self.name = self.pipeline.name
        self.stats = EngineStats()
        self.metrics = metrics or ProcessMetrics(self.name, self.options.worker)
        self._state_keys: set[str] = set()  # keys with state, for the metrics' state size
        self.group = physical_name(settings, stage_group(self.name))
        self.owner = EXCLUSIVE_OWNER if exclusive else f"worker-{self.options.worker}"
        self.transactional_id = f"{self.group}.{EXCLUSIVE_OWNER if exclusive else self.options.worker}"
        self._stopping = False
        pipeline = self.pipeline
        self._physical = {topic: physical_name(settings, topic) for topic in (*pipeline.outputs, DEAD_LETTERS)}
        self._checks = {physical_name(settings, t): InputCheck(t, keyed=True) for t in pipeline.inputs}
        self._checks.update({physical_name(settings, t): InputCheck(t, keyed=False) for t in pipeline.broadcast_inputs})
        self._barrier_topics = {physical_name(settings, t) for t in pipeline.barrier_inputs}
        with_checkpoints = bool(pipeline.broadcast_inputs) or exclusive
        runtime_topics = ensure_topics(
            settings,
            [
                *(changelog_wanted(core) for core in pipeline.cores),
                *([(checkpoint_topic(self.name), 1, CHECKPOINT_CONFIG)] if with_checkpoints else []),
                *([(lease_topic(self.name), 1, {})] if exclusive else []),
            ],
            # Missing outputs would fail every transaction on "Unknown topic", retried for ever: stop at start.
            required=self._physical,
        )
        cores = len(pipeline.cores)
        self._changelogs = {
            core.name: (topic, changelog_partitions(core))
            for core, topic in zip(pipeline.cores, runtime_topics[:cores], strict=True)
        }
        self._checkpoints = runtime_topics[cores] if with_checkpoints else None
        self._logical = {physical_name(settings, t): t for t in (*pipeline.inputs, *pipeline.broadcast_inputs)}
        self._lease = runtime_topics[-1] if exclusive else None
        self._owned: set[int] = set()  # keyed partitions this worker owns (the same numbers on every input)
        self._keyed: list[TopicPartition] = []  # the keyed partitions it owns, of every input
        self._broadcast: list[TopicPartition] = []  # every broadcast partition
        self._broadcast_positions: Positions = {}  # (physical topic, partition) -> next offset, as applied
        self._pending_broadcast: list[Message] = []  # read past a rebuild's target: applied in the next batch
        self._snapshot_at = time.monotonic()
        self._snapshot_positions: Positions = {}
        self._resume: Positions = {}  # an exclusive stage's keyed positions (physical names), as last committed
        self._lease_granted = False
        self._generation = 0  # counts (re)assignments: a batch that spans one is dropped and fetched again
        self._committed: Positions = {}  # keyed positions committed so far (physical names)
        self._idle_commit_at = 0.0
        self._abandoned: list[Producer] = []  # producers stuck in a call that never returned (see _send_offsets)
        self._warned: dict[str, float] = {}  # warning text -> when it was last logged
        self._producer: Producer | None = None
        self.consumer = self._new_consumer()
        self.broadcast = self._new_broadcast_consumer() if pipeline.broadcast_inputs else None
        self.lease = self._new_lease_consumer() if exclusive else None

    # -- lifecycle ----------------------------------------------------------------------------------------
    def stop(self, *_: Any) -> None:
        self._stopping = True

    def run(self, max_seconds: float | None = None, on_batch: Callable[[EngineStats], None] | None = None) -> None:
        """Process until stopped (SIGTERM, ``stop()``) or ``max_seconds`` passed."""
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not self._stopping and (deadline is None or time.monotonic() < deadline):
                try:
                    self._run_until(deadline, on_batch)
                except KafkaException as error:
                    # Fatal for these clients (not for the worker): new clients, a rebuilt pipeline, go on.
                    log.error("%s: %s; restarting the engine's clients", self.name, error)
                    self.stats.client_restarts += 1
                    self._restart_clients()
            self._final_snapshot()
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.close()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def close(self) -> None:
        """Close the clients; one in a fatal state raises on close, which changes nothing here."""
        for consumer in (self.consumer, self.broadcast, self.lease):
            if consumer is not None:
                with contextlib.suppress(KafkaException, RuntimeError):
                    consumer.close()
        if self._producer is not None:
            with contextlib.suppress(KafkaException):
                self._producer.flush(10)

    def _run_until(self, deadline: float | None, on_batch: Callable[[EngineStats], None] | None) -> None:
        if not self.exclusive:
            self._activate_group()
        while not self._stopping and (deadline is None or time.monotonic() < deadline):
            self.metrics.active = self.stats.active
            if self.metrics.tick():
                self._sample_metrics()
            if self.exclusive and not self._hold_lease():
                continue
            self._step()
            if on_batch is not None:
                on_batch(self.stats)

    def _sample_metrics(self) -> None:
        """What only this thread may read: the consumer's lag (cached watermarks, no request), kill switches."""
        metrics = self.metrics
        metrics.state_keys = len(self._state_keys)
        metrics.kill_switches = kill_switches_of(self.pipeline.cores)
        lag: dict[tuple[str, int], int] = {}
        if self.stats.active and self._keyed:
            with contextlib.suppress(KafkaException):
                for tp in self.consumer.position(list(self._keyed)):
                    _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                    if tp.offset >= 0 and high >= 0:
                        lag[self._logical[tp.topic], tp.partition] = max(0, high - tp.offset)
        metrics.lag = lag

    def _activate_group(self) -> None:
        if self._producer is None:
            self._producer = self._new_producer()
        self.consumer.subscribe(
            [physical_name(self.settings, t) for t in self.pipeline.inputs],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        self.stats.active = True

    def _restart_clients(self) -> None:
        self.close()
        time.sleep(self.options.retry_max_backoff_s)
        self._producer = None
        self._lease_granted = False
        self.stats.active = False
        self._owned, self._keyed = set(), []
        self.consumer = self._new_consumer()
        self.broadcast = self._new_broadcast_consumer() if self.pipeline.broadcast_inputs else None
        self.lease = self._new_lease_consumer() if self.exclusive else None

    # -- clients ------------------------------------------------------------------------------------------
    def _new_consumer(self) -> Consumer:
        config: dict[str, object] = {
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": self.options.fetch_wait_ms,
        }
        if not self.exclusive:
            # co-partitioned inputs: partition p of each to one worker
            config["partition.assignment.strategy"] = "range"
            # Static membership: a restarted worker of the same slot takes its partitions back without waiting
            # for the dead member's session to expire; a slot gone for good is reassigned after it.
            config["group.instance.id"] = f"{self.group}.{self.options.worker}"
            config["session.timeout.ms"] = self.options.session_timeout_ms
        return Consumer(self.settings.kafka_config(**config))

    def _new_broadcast_consumer(self) -> Consumer:
        return Consumer(
            self.settings.kafka_config(
                **{
                    "group.id": f"{self.group}.broadcast",  # never commits: positions live in the checkpoints
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": self.options.fetch_wait_ms,
                }
            )
        )

    def _new_lease_consumer(self) -> Consumer:
        assert self._lease is not None
        consumer = Consumer(
            self.settings.kafka_config(
                **{
                    "group.id": f"{self.group}.lease",
                    "group.instance.id": f"{self.group}.lease.{self.options.worker}",
                    "session.timeout.ms": self.options.session_timeout_ms,
                    "enable.auto.commit": False,
                }
            )
        )
        consumer.subscribe([self._lease], on_assign=self._on_lease, on_revoke=self._on_lease_lost)
        return consumer

    def _new_producer(self) -> Producer:
        producer = Producer(
            self.settings.kafka_config(
                **{
                    "transactional.id": self.transactional_id,
                    "transaction.timeout.ms": self.options.transaction_timeout_ms,
                    "partitioner": PARTITIONER,
                    "linger.ms": self.options.linger_ms,
                    "retry.backoff.ms": self.options.retry_backoff_ms,
                    "message.max.bytes": int(CHECKPOINT_CONFIG["max.message.bytes"]),
                }
            )
        )
        self._retrying("init_transactions", lambda: producer.init_transactions(30), forever=True)
        return producer

    @property
    def producer(self) -> Producer:
        assert self._producer is not None, "no producer: the worker is not active"
        return self._producer

    # -- retries ------------------------------------------------------------------------------------------
    def _retrying(self, what: str, call: Callable[[], T], forever: bool = False) -> T:
        """``call()``, retried with backoff while it fails with a retriable error (within the transaction
        timeout, or until stopped with ``forever``)."""
        deadline = time.monotonic() + self.options.transaction_timeout_ms / 1000
        delay = 0.05
        while True:
            try:
                return call()
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                retriable = error.retriable() or (forever and not error.fatal() and not error.txn_requires_abort())
                if not retriable or (not forever and time.monotonic() > deadline) or self._stopping:
                    raise
                self.stats.retries += 1
                log.warning("%s: %s failed (%s); retrying in %.2f s", self.name, what, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.options.retry_max_backoff_s)

    def _patiently(self, what: str, call: Callable[[], T]) -> T | None:
        """``call()`` retried while the broker cannot answer (reads: metadata, watermarks, changelogs), until it
        succeeds or the worker is stopped (then None)."""
        delay = 0.1
        while not self._stopping:
            try:
                return call()
            except (KafkaException, TimeoutError, RuntimeError) as error:
                self.stats.retries += 1
                log.warning("%s: %s failed (%s); retrying in %.2f s", self.name, what, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.options.retry_max_backoff_s)
        return None

    # -- ownership ----------------------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._generation += 1
        self._keyed = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        self._owned = {tp.partition for tp in partitions}
        self._rebuild()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._generation += 1
        self._keyed, self._owned = [], set()  # the next assignment rebuilds: no state of keys owned elsewhere

    def _on_lease(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._lease_granted = bool(partitions)

    def _on_lease_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._lease_granted = False

    def _hold_lease(self) -> bool:
        """Whether this worker is the exclusive stage's active one; takes over or steps down as the lease says."""
        assert self.lease is not None
        self._usable(self.lease.consume(1, 0 if self.stats.active else 0.2))  # serves the group's callbacks
        if self._lease_granted and not self.stats.active:
            log.warning("%s: worker %d holds the lease: active", self.name, self.options.worker)
            self._producer = self._new_producer()  # fences the previous active worker's transactions
            self._keyed = [
                TopicPartition(physical_name(self.settings, topic), p)
                for topic in self.pipeline.inputs
                for p in self._partitions_of(physical_name(self.settings, topic))
            ]
            self._owned = {tp.partition for tp in self._keyed}
            self.stats.active = True
            self._rebuild()
            self.consumer.assign(
                [TopicPartition(tp.topic, tp.partition, self._resume_offset(tp)) for tp in self._keyed]
            )
        elif not self._lease_granted and self.stats.active:
            log.warning("%s: worker %d lost the lease: standing by", self.name, self.options.worker)
            self.stats.active = False
            self.consumer.unassign()
            if self._producer is not None:
                self._producer.flush(5)
            self._producer = None
            self.pipeline = Pipeline([factory() for factory in self.factories], self.name)
        return self.stats.active

    def _partitions_of(self, topic: str) -> list[int]:
        metadata = self._patiently(f"metadata of {topic}", lambda: self.consumer.list_topics(topic, timeout=10))
        if metadata is None:
            return []
        return sorted(metadata.topics[topic].partitions)

    # -- rebuilding state ---------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """A fresh pipeline: broadcast state (snapshot + tail, meeting no keyed state, so it emits nothing: what it
        caused is in the log already), then the owned partitions' keyed state from the changelogs."""
        self.stats.rebuilds += 1
        while not self._stopping:
            self.pipeline = Pipeline([factory() for factory in self.factories], self.name)
            if self._patiently("rebuilding", self._rebuild_once) is not None:
                return

    def _rebuild_once(self) -> bool:
        found = Checkpoints()
        if self._checkpoints is not None:
            cores = [core.name for core in self.pipeline.cores]
            found = read_checkpoints(self.settings, self._checkpoints, cores, self.options.rebuild_wait_s)
        if self.exclusive:
            resume = found.positions.get(EXCLUSIVE_OWNER, {})
            self._resume = {(physical_name(self.settings, t), p): offset for (t, p), offset in resume.items()}
        if self.broadcast is not None:
            self._rebuild_broadcast(found)
        restored = 0
        self._state_keys.clear()
        for core in self.pipeline.cores:
            topic, partitions = self._changelogs[core.name]
            owned = list(range(partitions)) if self.exclusive else sorted(self._owned)
            latest: dict[str, Any] = {}
            for _, key, state in read_partitions(self.settings, topic, owned, self.options.rebuild_wait_s):
                latest[key] = state
            for key, state in latest.items():
                if state is not None:
                    core.restore(key, state)
                    self._state_keys.add(key)
            restored += len(latest)
        self.stats.restored_keys += restored
        log.info("%s: restored %d keys (partitions %s)", self.name, restored, "all" if self.exclusive else owned)
        return True

    def _rebuild_broadcast(self, found: Checkpoints) -> None:
        assert self.broadcast is not None
        cores = self.pipeline.cores
        snapshot = found.most_advanced_snapshot()
        if snapshot is not None:
            for core in cores:
                core.restore_broadcast(snapshot.states[core.name])
        start = {} if snapshot is None else snapshot.positions
        partitions = [
            TopicPartition(physical_name(self.settings, topic), p)
            for topic in self.pipeline.broadcast_inputs
            for p in self._partitions_of(physical_name(self.settings, topic))
        ]
        self._broadcast = partitions
        logical = {physical_name(self.settings, t): t for t in self.pipeline.broadcast_inputs}
        begin = {(tp.topic, tp.partition): start.get((logical[tp.topic], tp.partition), 0) for tp in partitions}
        # An exclusive stage replays exactly to where its last transaction left off (what came after meets the
        # keyed state, live); a group stage, and an exclusive one with no position of a partition (its first
        # start, or its checkpoints lost), to the end: serving orders before reading the market they meet would
        # fill them against books of hours ago.
        ends = self._ends(partitions)
        target = {key: self._resume.get(key, ends[key]) for key in begin} if self.exclusive else ends
        target = {key: max(offset, begin[key]) for key, offset in target.items()}
        self.broadcast.assign([TopicPartition(t, p, offset) for (t, p), offset in begin.items()])
        self._pending_broadcast = []
        positions = dict(begin)
        behind = sum(max(0, target[key] - begin[key]) for key in target)
        if behind:
            log.info("%s: reading %d broadcast records before serving", self.name, behind)
        # The wait counts from the last progress, not the start: a long history is read whole, however long it
        # takes; only a tail that stops advancing (an open transaction holds the end back) is left to come live.
        stalled_at = time.monotonic() + self.options.rebuild_wait_s
        while any(positions[key] < target[key] for key in target):
            if time.monotonic() > stalled_at:
                log.warning(
                    "%s: broadcast tail stopped advancing for %.0f s before its end; the rest comes live",
                    self.name,
                    self.options.rebuild_wait_s,
                )
                target = {key: min(offset, positions[key]) for key, offset in target.items()}
                break
            before = sum(positions.values())
            for message in self._usable(self.broadcast.consume(self.options.batch_size, 0.1)):
                topic, partition, offset = coordinates(message)
                if offset < target[topic, partition]:
                    apply_record(self.pipeline, self.codec, self._checks[topic], SourceRecord.of(message))
                    self.stats.replayed_broadcast += 1
                else:
                    self._pending_broadcast.append(message)
                positions[topic, partition] = offset + 1
            positions.update(self._positions_of(self.broadcast, partitions, positions))
            if sum(positions.values()) > before:
                stalled_at = time.monotonic() + self.options.rebuild_wait_s
        for core in cores:
            core.state_changes()  # broadcast records change no keyed state; nothing to write
        self._broadcast_positions = {key: max(positions[key], target[key]) for key in positions}
        self._snapshot_positions = dict(self._broadcast_positions)
        self._snapshot_at = time.monotonic()

    def _positions_of(self, consumer: Consumer, partitions: list[TopicPartition], known: Positions) -> Positions:
        """The consumer's positions where it has one (it skips transaction markers without returning a record)."""
        found: Positions = {}
        for tp in consumer.position(partitions) if partitions else []:
            if tp.offset >= 0:
                found[tp.topic, tp.partition] = max(tp.offset, known.get((tp.topic, tp.partition), 0))
        return found

    def _ends(self, partitions: list[TopicPartition]) -> Positions:
        ends: Positions = {}
        for tp in partitions:
            _, high = self.broadcast.get_watermark_offsets(tp, timeout=10, cached=False)  # type: ignore[union-attr]
            ends[tp.topic, tp.partition] = high
        return ends

    def _resume_offset(self, tp: TopicPartition) -> int:
        offset = self._resume.get((tp.topic, tp.partition))
        return OFFSET_BEGINNING if offset is None else offset

    # -- the loop -----------------------------------------------------------------------------------------
    def _step(self) -> None:
        broadcast = self._take_broadcast()
        # Wait for the first record only, then take what has already arrived: consume(n, timeout) would hold a
        # partial batch for the whole timeout, adding up to that much to every hop.
        generation = self._generation
        # With broadcast records in hand there is work now: do not wait for a keyed one.
        wait_s = 0 if broadcast else self.options.poll_timeout_s
        keyed = self._usable(self.consumer.consume(1, wait_s))
        if keyed:
            keyed += self._usable(self.consumer.consume(self.options.batch_size - 1, 0))
            if self._generation != generation and generation:
                # A rebalance inside these calls: records before it may be of partitions no longer ours. Drop
                # the batch; the rebuilt state and the committed offsets take it from there.
                self._seek_committed()
                keyed = []
            if keyed and self._barrier_topics:
                broadcast += self._read_barrier()
        if broadcast or keyed:
            self._transact(broadcast, keyed)
        elif self._snapshot_due():
            self._transact([], [])
        else:
            self._commit_idle_positions()

    def _commit_idle_positions(self) -> None:
        """While idle, commit positions that moved past transaction markers only (at most every IDLE_COMMIT_S): a
        caught-up worker then shows no lag to observers (tools, tests, `sq`), although nothing was applied."""
        now = time.monotonic()
        if now - self._idle_commit_at < IDLE_COMMIT_S or not self._keyed:
            return
        self._idle_commit_at = now
        moved = {
            key: offset
            for key, offset in self._positions_of(self.consumer, self._keyed, {}).items()
            if offset > self._committed.get(key, -1)
        }
        if not moved:
            return
        if self.exclusive:
            self._commit_for_observers(moved)
            self._committed.update(moved)
        else:
            self._transact([], [])  # an empty transaction: it commits the consumer's positions (see _transact)

    def _usable(self, messages: list[Message]) -> list[Message]:
        """The records among what a consumer returned; its errors logged, a fatal one raised (new clients)."""
        usable = []
        for message in messages:
            error = message.error()
            if error is None:
                usable.append(message)
            elif is_fatal(error):
                raise KafkaException(error)
            elif error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                self._warn_once(f"{error.str()}: create the catalogue's topics with `sq topics create`")
            elif error.code() not in _IDLE_ERRORS:
                self._warn_once(f"consume error {error}")
        return usable

    def _warn_once(self, text: str, every_s: float = 30.0) -> None:
        """Log a warning, but the same one at most every ``every_s`` (a broker away repeats it many times)."""
        now = time.monotonic()
        if now - self._warned.get(text, -every_s) >= every_s:
            self._warned[text] = now
            log.warning("%s: %s", self.name, text)

    def _take_broadcast(self) -> list[Message]:
        """Every broadcast record available now (a kill switch acts at once), and any a rebuild read ahead."""
        messages, self._pending_broadcast = self._pending_broadcast, []
        if self.broadcast is not None:
            while len(messages) < self.options.batch_size:
                fetched = self._usable(self.broadcast.consume(self.options.batch_size, 0))
                if not fetched:
                    break
                messages += fetched
        return messages

    def _read_barrier(self) -> list[Message]:
        """Records of every broadcast input, read until the barrier topics are read to the broker's end.

        Kafka orders nothing across topics: without this, a kill switch acknowledged a moment before a command
        could still be fetched after it. One watermark round trip per batch buys "the next command after a
        control event sees it". An open transaction on the topic holds the readable end back: we wait for it
        at most ``barrier_wait_s`` rather than stall the order path. While the broker cannot say where the end
        is, the batch waits (a command must not overtake a kill switch).
        """
        assert self.broadcast is not None
        barrier = [tp for tp in self._broadcast if tp.topic in self._barrier_topics]
        ends = self._patiently("reading the barrier's end", lambda: self._ends(barrier)) or {}
        messages: list[Message] = []
        positions = dict(self._broadcast_positions)
        deadline = time.monotonic() + self.options.barrier_wait_s
        while any(positions.get(key, 0) < end for key, end in ends.items()) and time.monotonic() < deadline:
            for message in self._usable(self.broadcast.consume(self.options.batch_size, 0.005)):
                messages.append(message)
                topic, partition, offset = coordinates(message)
                positions[topic, partition] = offset + 1
            positions.update(self._positions_of(self.broadcast, barrier, positions))
        return messages

    def _snapshot_due(self) -> bool:
        return (
            self.broadcast is not None
            and self._broadcast_positions != self._snapshot_positions
            and time.monotonic() - self._snapshot_at >= self.options.snapshot_interval_s
        )

    def _final_snapshot(self) -> None:
        writable = self.stats.active and self._producer is not None and self.broadcast is not None
        if writable and self._broadcast_positions != self._snapshot_positions:
            self._snapshot_at = 0.0
            self._transact([], [])

    # -- the transaction ----------------------------------------------------------------------------------
    def _transact(self, broadcast: list[Message], keyed: list[Message]) -> None:
        producer = self.producer
        offsets: dict[tuple[str, int], int] = {}
        began = time.perf_counter()
        try:
            self._retrying("begin_transaction", producer.begin_transaction)
            for message in broadcast:
                self._apply(message)
                topic, partition, offset = coordinates(message)
                self._broadcast_positions[topic, partition] = offset + 1
            for message in keyed:
                self._apply(message)
                topic, partition, offset = coordinates(message)
                offsets[topic, partition] = offset + 1
            # The consumers' positions, not only the records': a position also steps over transaction markers, so
            # a caught-up group shows no lag.
            offsets.update(self._positions_of(self.consumer, self._keyed, offsets))
            if self.broadcast is not None and broadcast:
                self._broadcast_positions.update(
                    self._positions_of(self.broadcast, self._broadcast, self._broadcast_positions)
                )
            self._write_changelogs()
            if self._snapshot_due():
                self._write_snapshot()
            if self.exclusive:
                self._write_positions(offsets)
            elif offsets:
                self._send_offsets(offsets)
            self._retrying("commit_transaction", lambda: producer.commit_transaction(30))
            self._committed.update(offsets)
            self.stats.transactions += 1
            self.stats.consumed += len(broadcast) + len(keyed)
            self.stats.keyed += len(keyed)
            self.metrics.observe_batch(began, min((m.timestamp()[1] for m in keyed), default=None))
            if self.exclusive and offsets:
                self._resume.update(offsets)
                self._commit_for_observers(offsets)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if not error.txn_requires_abort():
                raise
            log.warning("%s: aborting a transaction (%s); rewinding", self.name, error)
            self.stats.aborts += 1
            self.metrics.aborts += 1
            self._retrying("abort_transaction", lambda: producer.abort_transaction(30), forever=True)
            self._rewind()
        producer.poll(0)

    def _apply(self, message: Message) -> None:
        source = SourceRecord.of(message)
        emits = apply_record(self.pipeline, self.codec, self._checks[source.topic], source)
        try:
            encoded = [(self._physical[e.topic], self.codec.encode(e.schema, e.record), e.key.encode()) for e in emits]
        except SerializationError as error:  # a core bug: keep the input, with the reason
            letter = dead_letter(
                self.name, source, "PROCESSING_ERROR", f"the pipeline emitted an invalid record: {error}"
            )
            encoded = [
                (self._physical[DEAD_LETTERS], self.codec.encode(letter.schema, letter.record), letter.key.encode())
            ]
            emits = [letter]
        self.metrics.observe_record(self._checks[source.topic].logical, emits)
        for (topic, value, key), emit in zip(encoded, emits, strict=True):
            self._send(topic, value, key)
            if emit.topic == DEAD_LETTERS:
                self.stats.dead_letters += 1
        self.stats.produced += len(encoded)

    def _send(self, topic: str, value: bytes | None, key: bytes, partition: int = -1) -> None:
        producer = self.producer
        while True:
            try:
                producer.produce(topic, value, key, partition=partition)
                return
            except BufferError:  # the local queue is full: let deliveries drain
                producer.poll(0.05)

    def _write_changelogs(self) -> None:
        owned = None if self.exclusive else self._owned  # an exclusive stage owns every partition
        for core in self.pipeline.cores:
            topic, partitions = self._changelogs[core.name]
            for key, state in core.state_changes().items():
                partition = state_partition(key, partitions)
                if (
                    owned is not None and partition not in owned
                ):  # step dead-letters mis-keyed records, so this is a core's bug
                    raise RuntimeError(f"{core.name}: state key {key!r} is in partition {partition}, not owned here")
                self._send(topic, encode_state(state), key.encode(), partition)
                if state is None:
                    self._state_keys.discard(key)
                else:
                    self._state_keys.add(key)

    def _logical_positions(self, positions: Positions) -> Positions:
        return {(self._logical[topic], partition): offset for (topic, partition), offset in positions.items()}

    def _write_positions(self, offsets: Positions) -> None:
        """The exclusive stage's tracking record: every input position as of this transaction."""
        assert self._checkpoints is not None
        positions = self._logical_positions({**self._resume, **offsets, **self._broadcast_positions})
        key, value = positions_record(self.owner, positions)
        self._send(self._checkpoints, value, key)

    def _send_offsets(self, offsets: Positions) -> None:
        """A group stage's consumed offsets into the transaction (KIP-447: fenced if the partitions moved on).

        librdkafka's call can block past its timeout when the group coordinator goes away (its issues #5456,
        #5511): it runs in a thread of its own, and one that does not come back in time counts as a fatal error
        of these clients, which the engine then renews.
        """
        producer = self.producer
        commit = [TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()]
        metadata = self.consumer.consumer_group_metadata()
        timeout_s = SEND_OFFSETS_TIMEOUT_S
        outcome: list[BaseException | None] = []

        def send() -> None:
            try:
                self._retrying(
                    "send_offsets_to_transaction",
                    lambda: producer.send_offsets_to_transaction(commit, metadata, timeout_s),
                )
                outcome.append(None)
            except BaseException as error:  # handed to the loop's thread below
                outcome.append(error)

        thread = threading.Thread(target=send, name="send-offsets", daemon=True)
        thread.start()
        # A call still going after three of its timeouts has hung (or keeps failing): new clients cost less than
        # the wait. Abandoning a producer that was still working is harmless: its successor fences it.
        thread.join(3 * timeout_s)
        if not outcome:
            self._abandoned.append(producer)  # still blocked inside it: never closed, never used again
            self._producer = None
            stuck = KafkaError(KafkaError._TIMED_OUT, "send_offsets_to_transaction did not return", fatal=True)
            raise KafkaException(stuck)
        if outcome[0] is not None:
            raise outcome[0]

    def _commit_for_observers(self, offsets: Positions) -> None:
        """An exclusive stage resumes from its checkpoint; its group's offsets are committed too, after the
        transaction, so lag tools and `sq` see how far it got."""
        commit = [TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()]
        with contextlib.suppress(KafkaException):
            self.consumer.commit(offsets=commit, asynchronous=True)

    def _write_snapshot(self) -> None:
        assert self._checkpoints is not None
        positions = self._logical_positions(self._broadcast_positions)
        for core in self.pipeline.cores:
            key, value = snapshot_record(self.owner, core.name, positions, core.broadcast_state())
            self._send(self._checkpoints, value, key)
        self._snapshot_at = time.monotonic()
        self._snapshot_positions = dict(self._broadcast_positions)
        self.stats.snapshots += 1

    def _rewind(self) -> None:
        """After an abort the pipeline's memory is ahead of the log: rebuild it, consumers back to the commits."""
        self._rebuild()
        if self.exclusive:
            for tp in self._keyed:
                with contextlib.suppress(KafkaException):
                    self.consumer.seek(TopicPartition(tp.topic, tp.partition, self._resume_offset(tp)))
        else:
            self._seek_committed()

    def _seek_committed(self) -> None:
        committed = self._patiently("committed offsets", lambda: self.consumer.committed(self._keyed, timeout=30))
        for tp in committed or []:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            try:
                self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            except KafkaException as error:  # not fetching yet: it starts from the committed offset anyway
                log.info("%s: no seek on %s [%d] (%s)", self.name, tp.topic, tp.partition, error)
