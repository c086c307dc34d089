"""`sq backtest --via-kafka`: the same backtest (replay/backtest/engine.py), its cores run by the real pipeline.

A fresh namespace of topics (``<prefix>backtest-<id>.``, Settings.with_topic_prefix) is created, with a kafka
worker of the order path's stage and of each market data stage on it. ``KafkaStages`` stands in for the
memory engine: each event the backtest sends (a market event, in event-time order, or a command of the
strategy) is produced to its topic in the namespace, stamped with its time; once every worker that reads
that topic has applied it (replay/kafka_stage.py), the outputs its transactions committed are read back and
handed to the backtest in the order the memory engine would give them (breadth first along ``causation_id``,
then by core, then by the index each core gave its output, which its derived event id encodes). The simulated
clock, the strategy and the results are the backtest's own, so the results have the same shape; the
namespace's topics are deleted at the end.

One event at a time through the broker (a transaction per event and stage): meant for small data, to prove
the pipeline and the memory engine agree, not for speed. The workers run their own configuration: the venue
without order latency and with its default fees, the order book with its analytics on (which no strategy
reads); a backtest asking for other settings is refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType

from confluent_kafka import OFFSET_BEGINNING, Consumer, IsolationLevel, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]  # exported, untyped

from processors.core import Emit, Event, derived_event_id
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import MARKET_DATA_STAGES
from processors.runtime.registry import stage_factories
from replay.backtest.engine import ORDER_PATH_STAGE, Backtest, BacktestConfig, BacktestRun, backtest_core_names
from replay.kafka_stage import StageWorker
from schemas.codec import Codec, default_codec
from settings import Settings
from topics.admin import admin_client, create_topics, delete_prefixed_topics, physical_name
from topics.catalogue import CATALOGUE, DEAD_LETTERS, spec_for
from topics.client import PRODUCER_DEFAULTS

STAGES = (ORDER_PATH_STAGE, *MARKET_DATA_STAGES)
START_S = 120.0  # fresh workers elect themselves, create their clients and restore empty state
MAX_SIBLINGS = 256  # the outputs one core derives from one cause, searched for an output's index
PROGRESS_EVERY = 100  # events between progress reports (an event takes milliseconds here, not microseconds)


def refusal(config: BacktestConfig) -> str | None:
    """Why ``config`` cannot run through the workers' own configuration, or None."""
    if config.latency.order_us:
        return "--via-kafka runs the workers' venue, without order latency: set latency.order_us to 0"
    if config.fees is not None:
        return "--via-kafka runs the workers' venue with its default fees: leave the fees out of --config"
    return None


class KafkaStages:
    """The backtest's engine through Kafka (see the module docstring): ``send`` an event, get its outputs."""

    def __init__(self, settings: Settings, *, apply_timeout_s: float, codec: Codec | None = None) -> None:
        self.settings = settings
        self.codec = codec or default_codec()
        self.apply_timeout_s = apply_timeout_s
        create_topics(settings, CATALOGUE)
        pipelines = {stage: MemoryEngine(stage_factories(stage), name=stage).pipeline for stage in STAGES}
        outputs: list[str] = [DEAD_LETTERS]
        for pipeline in pipelines.values():
            outputs += [topic for topic in pipeline.outputs if topic not in outputs]
        self._rank = {core: rank for rank, core in enumerate(backtest_core_names())}
        self._producer = Producer(settings.kafka_config(**{**PRODUCER_DEFAULTS, "linger.ms": 0}))
        self._admin = admin_client(settings)
        self._tail = Consumer(
            settings.kafka_config(
                **{
                    "group.id": "sq-backtest-tail",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "enable.partition.eof": False,
                    "fetch.wait.max.ms": 10,
                }
            )
        )
        self._logical = {physical_name(settings, topic): topic for topic in outputs}
        self._partitions = [
            TopicPartition(physical_name(settings, topic), partition, OFFSET_BEGINNING)
            for topic in outputs
            for partition in range(spec_for(topic).partitions)
        ]
        self._tail.assign(self._partitions)
        self._read_to: dict[tuple[str, int], int] = {}
        self.workers: list[StageWorker] = []
        self._readers: dict[str, list[StageWorker]] = {}
        try:
            for stage, pipeline in pipelines.items():
                worker = StageWorker(settings, stage)
                self.workers.append(worker)
                for topic in (*pipeline.inputs, *pipeline.broadcast_inputs):
                    self._readers.setdefault(topic, []).append(worker)
            for worker in self.workers:
                worker.wait_ready(START_S)
        except BaseException:  # a worker that does not start: stop the others too
            self.close()
            raise

    def __enter__(self) -> KafkaStages:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self._tail.close()

    def send(self, event: Event) -> list[Emit]:
        """Produce ``event`` at its time; once every worker reading its topic applied it, its outputs."""
        delivered: list[tuple[int, int]] = []
        errors: list[str] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(str(error))
            else:
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                delivered.append((partition, offset))

        self._producer.produce(
            physical_name(self.settings, event.topic),
            self.codec.encode(event.schema, event.record),
            event.key.encode() if event.key is not None else None,
            timestamp=event.ingest_time_us // 1000,
            on_delivery=on_delivery,
        )
        if self._producer.flush(30) or errors:
            raise RuntimeError(f"the namespace's {event.topic} did not take the event: {errors or 'timed out'}")
        partition, offset = delivered[0]
        for worker in self._readers.get(event.topic, []):
            worker.wait({(event.topic, partition): offset + 1}, self.apply_timeout_s)
        return self._in_causal_order(str(event.record["meta"]["event_id"]), self._read_new())

    def _read_new(self) -> list[Emit]:
        """Every output committed up to now that was not read yet (the read_committed end of each partition)."""
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        asked = {TopicPartition(tp.topic, tp.partition): latest for tp in self._partitions}
        futures = self._admin.list_offsets(asked, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=30)
        ends = {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}
        lagging = {key for key, end in ends.items() if self._read_to.get(key, 0) < end}
        out: list[Emit] = []
        deadline = time.monotonic() + self.apply_timeout_s
        while lagging:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the outputs did not arrive within {self.apply_timeout_s:.0f} s: {sorted(lagging)}")
            for message in self._tail.consume(500, timeout=0.01):
                value = message.value()
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                if message.error() is not None or topic is None or partition is None or offset is None:
                    continue
                self._read_to[topic, partition] = offset + 1
                if value is not None:
                    decoded = self.codec.decode(value)
                    key = message.key()
                    out.append(Emit(self._logical[topic], key.decode() if key else "", decoded.schema, decoded.record))
            # A partition whose last offsets are transaction markers ends at the consumer's position.
            waiting = [TopicPartition(topic, partition) for topic, partition in lagging]
            for position in self._tail.position(waiting):
                if position.offset >= 0:
                    where = (position.topic, position.partition)
                    self._read_to[where] = max(self._read_to.get(where, 0), position.offset)
            lagging = {key for key in lagging if self._read_to.get(key, 0) < ends[key]}
        return out

    def _in_causal_order(self, cause: str, emits: list[Emit]) -> list[Emit]:
        """The memory engine's order: its pipeline applies outputs breadth first, a core's outputs in the order it
        gave them (the index in their derived event id), the cores in pipeline order."""
        place: dict[str, tuple[int, ...]] = {cause: ()}
        placed: list[tuple[tuple[int, ...], int, Emit]] = []
        left = list(enumerate(emits))
        while left:
            later = []
            for arrival, emit in left:
                meta = emit.record.get("meta", {})
                parent = place.get(meta.get("causation_id"))
                if parent is None:
                    later.append((arrival, emit))
                    continue
                producer = meta.get("producer", "")
                key = (*parent, self._rank.get(producer, len(self._rank)), _index(meta, producer))
                place[str(meta.get("event_id"))] = key
                placed.append((key, arrival, emit))
            if len(later) == len(left):  # of another cause (none expected): after the rest, as they came
                placed += [((len(self._rank) + 1,), arrival, emit) for arrival, emit in later]
                break
            left = later
        placed.sort(key=lambda item: (len(item[0]), item[0], item[1]))
        return [emit for _, _, emit in placed]


def _index(meta: dict[str, object], producer: str) -> int:
    cause, event_id = meta.get("causation_id"), meta.get("event_id")
    for index in range(MAX_SIBLINGS):
        if derived_event_id(str(cause), producer, index) == event_id:
            return index
    return MAX_SIBLINGS


def run_backtest_via_kafka(
    config: BacktestConfig,
    events: Iterable[Event],
    settings: Settings,
    *,
    apply_timeout_s: float = 30.0,
    on_progress: Callable[[int], None] | None = None,
    on_namespace: Callable[[str], None] = lambda prefix: None,
) -> BacktestRun:
    """The backtest through the workers on a fresh namespace, deleted at the end. Raises ValueError for a
    configuration the workers do not run (``refusal``), RuntimeError/TimeoutError when a worker fails or stalls."""
    refused = refusal(config)
    if refused is not None:
        raise ValueError(refused)
    namespace = settings.with_topic_prefix(f"{settings.topic_prefix}backtest-{uuid.uuid4().hex[:8]}.")
    on_namespace(namespace.topic_prefix)
    try:
        with KafkaStages(namespace, apply_timeout_s=apply_timeout_s) as stages:
            return Backtest(config, engine=stages).feed_all(events, on_progress, every=PROGRESS_EVERY)
    finally:
        delete_prefixed_topics(namespace)
