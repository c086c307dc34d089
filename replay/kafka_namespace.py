"""`sq replay run --into-kafka NAMESPACE`: the live session's stage re-run through Kafka, on new topics.

The namespace is a topic prefix under the live one (``<live prefix><NAMESPACE>.``, Settings.with_topic_prefix),
whose catalogue topics are created empty. A real worker of the stage (the kafka engine, a process of its own)
runs on them, and the stage's input records are copied from the live topics into the namespace's, each to the
same partition with its broker time, key and value, in the order the live stage applied them (replay/order.py).
The stage's own records on its inputs (risk's control events) are not copied: the replayed stage writes them.

Kafka orders each partition, not their merge, so once the worker serves (``StageWorker.wait_ready``), a
record is only produced once every record of another partition produced before it has been applied: the
exclusive stage's positions record, written in each of its transactions (processors/runtime/checkpoints.py),
says how far it got in every input. Records of one partition in a row go without waiting. Then
`sq replay diff --namespace NAMESPACE` compares the namespace's outputs with the live ones (``namespace_stage``).

Only exclusive stages carry their positions in the transaction, so only the ``single`` topology (the one
``orderpath`` stage) is replayed this way; the others replay in the memory engine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from processors.core import derived_event_id
from processors.runtime.pipeline import STAGES, topology_stages
from replay.kafka_stage import StageWorker
from replay.session import (
    Partition,
    Record,
    StageLog,
    StageReplay,
    live_state,
    meta_field,
    read_stage_log,
    stage_outputs,
    state_hash,
)
from replay.window import Span
from schemas.codec import Codec, default_codec
from settings import Settings
from topics.admin import admin_client, create_topics, physical_name
from topics.catalogue import CATALOGUE, DEAD_LETTERS
from topics.client import PRODUCER_DEFAULTS, read_topic

NAMESPACE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
START_S = 120.0  # a fresh worker elects itself, creates its clients and restores empty state
APPLY_S = 30.0  # the longest wait for one input once the worker runs


class NamespaceError(ValueError):
    """A namespace that cannot be replayed into or compared; the message says what to do instead."""


def namespace_settings(settings: Settings, namespace: str) -> Settings:
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise NamespaceError(
            f"namespace {namespace!r}: give 1 to 40 characters of a-z, 0-9, '_' or '-', starting with a letter or "
            "digit (e.g. replay1)"
        )
    return settings.with_topic_prefix(f"{settings.topic_prefix}{namespace}.")


def _existing_topics(settings: Settings) -> list[str]:
    topics = admin_client(settings).list_topics(timeout=30).topics
    return sorted(name for name in topics if name.startswith(settings.topic_prefix))


def replayable_stages(topology: str) -> tuple[str, ...]:
    stages = topology_stages(topology)
    if not all(STAGES[stage].exclusive for stage in stages):
        raise NamespaceError(
            f"--into-kafka replays the single topology (its exclusive stage records how far it applied each input, "
            f"so the inputs can be fed in the live order); replay the {topology} topology in the memory engine "
            "(without --into-kafka)"
        )
    return stages


@dataclass
class KafkaReplay:
    stage: str
    namespace: str
    topic_prefix: str
    copied: int = 0
    own_records: int = 0  # the stage's own records on its inputs: not copied, the replayed stage writes them
    waits: int = 0  # times the feed waited for the worker to apply a record of another partition
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "namespace": self.namespace,
            "topic_prefix": self.topic_prefix,
            "copied": self.copied,
            "own_records": self.own_records,
            "waits": self.waits,
            "seconds": round(self.seconds, 3),
        }


def replay_into_kafka(
    settings: Settings,
    namespace: str,
    topology: str,
    *,
    codec: Codec | None = None,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
) -> list[KafkaReplay]:
    """Raises NamespaceError (a namespace in use, a topology it cannot replay), TimeoutError (the worker did not
    apply an input in time: the message has the end of its log) or RuntimeError (the worker exited)."""
    codec = codec or default_codec()
    stages = replayable_stages(topology)
    target = namespace_settings(settings, namespace)
    existing = _existing_topics(target)
    if existing:
        raise NamespaceError(
            f"namespace {namespace} is in use ({len(existing)} topics under {target.topic_prefix}, e.g. "
            f"{existing[0]}): give a new name (its topics stay for `sq replay diff --namespace {namespace}`)"
        )
    create_topics(target, CATALOGUE)
    return [
        _replay_stage(settings, target, stage, namespace=namespace, codec=codec, on_progress=on_progress)
        for stage in stages
    ]


def _replay_stage(
    live: Settings,
    target: Settings,
    stage: str,
    *,
    namespace: str,
    codec: Codec,
    on_progress: Callable[[str, int, int], None],
) -> KafkaReplay:
    log = read_stage_log(live, stage, codec)
    result = KafkaReplay(stage, namespace, target.topic_prefix)
    logical_of = {physical_name(live, t): t for t in (*log.pipeline.inputs, *log.pipeline.broadcast_inputs)}
    feed = [i for i in log.order if meta_field(codec, log.inputs[i].value, "producer") not in log.producers]
    result.own_records = len(log.order) - len(feed)
    began = time.monotonic()
    with StageWorker(target, stage) as worker:
        worker.wait_ready(START_S)
        producer = Producer(target.kafka_config(**{**PRODUCER_DEFAULTS, "linger.ms": 0}))
        delivered: dict[tuple[str, int], int] = {}  # (logical topic, partition) -> next offset after ours
        errors: list[str] = []
        logical_of_target = {physical_name(target, t): t for t in logical_of.values()}

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(str(error))
                return
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            assert topic is not None and partition is not None and offset is not None
            delivered[logical_of_target[topic], partition] = offset + 1

        last: tuple[str, int] | None = None
        for done, index in enumerate(feed):
            consumed = log.inputs[index]
            here = (logical_of[consumed.topic], consumed.partition)
            if last is not None and here != last:  # another partition: what came before must be applied
                _flush(producer, errors)
                others = {k: v for k, v in delivered.items() if k != here}
                if not worker.reached(others):
                    result.waits += 1
                    worker.wait(others, APPLY_S)
            producer.produce(
                physical_name(target, here[0]),
                consumed.value,
                consumed.key.encode() if consumed.key is not None else None,
                partition=consumed.partition,
                timestamp=consumed.timestamp_ms,
                on_delivery=on_delivery,
            )
            producer.poll(0)
            last = here
            result.copied += 1
            if done % 50 == 0:
                on_progress(stage, done, len(feed))
        _flush(producer, errors)
        worker.wait(delivered, APPLY_S)
        # Its own records on its inputs (risk's control events) come back to it: wait for those too.
        worker.wait(_ends(target, logical_of.values()), APPLY_S)
        on_progress(stage, len(feed), len(feed))
    result.seconds = time.monotonic() - began
    return result


def _flush(producer: Producer, errors: list[str]) -> None:
    if producer.flush(30):
        raise TimeoutError("the namespace's topics did not take the copied records within 30 s; is the broker up?")
    if errors:
        raise RuntimeError(f"copying into the namespace failed: {errors[0]}")


def _ends(target: Settings, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """Per partition of the namespace's input topics, the offset after its last committed record."""
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        for consumed in read_topic(target, topic):
            ends[topic, consumed.partition] = consumed.offset + 1
    return ends


def namespace_stage(settings: Settings, namespace: str, stage: str, codec: Codec | None = None) -> StageReplay:
    """The namespace's outputs of ``stage`` where the live stage wrote its own, for ``diff_session``: each
    partition of the namespace's outputs is compared with the same partition of the live topic. A dead letter
    names its source's position, which differs in the namespace: it is put back at the live position."""
    codec = codec or default_codec()
    target = namespace_settings(settings, namespace)
    if not _existing_topics(target):
        raise NamespaceError(
            f"namespace {namespace} has no topics (none under {target.topic_prefix}); run `sq replay run "
            f"--into-kafka {namespace}` first"
        )
    log = read_stage_log(settings, stage, codec)
    topics = (*log.pipeline.outputs, DEAD_LETTERS)
    replayed = stage_outputs(target, codec, topics, log.producers)
    if not replayed:
        raise NamespaceError(
            f"namespace {namespace} holds no output of stage {stage}; did `sq replay run --into-kafka {namespace}` "
            "finish? (run it again into a new namespace)"
        )
    to_live = _live_positions(settings, target, log)
    result = StageReplay(stage, inputs=len(log.inputs), live=log.live, forced=log.forced)
    result.span = Span(0, len(log.inputs))  # the whole log: every output is at place 0
    prefix = len(target.topic_prefix)
    outputs: dict[Partition, list[Record]] = {}
    for (topic, partition), records in replayed.items():
        where = (physical_name(settings, topic[prefix:]), partition)
        outputs[where] = [_at_live_position(record, to_live) for _, record in records]
    result.outputs = outputs
    keys = set(outputs) | set(log.live)
    result.output_places = {key: [0] * len(outputs.get(key, [])) for key in keys}
    result.live_places = {key: [0] * len(log.live.get(key, [])) for key in keys}
    result.state_hashes = _state_hashes(target, log)
    result.live_state_hashes = _state_hashes(settings, log)
    return result


def _state_hashes(settings: Settings, log: StageLog) -> dict[str, str]:
    states = {core.name: live_state(settings, core.name) for core in log.pipeline.cores}
    return {name: state_hash(state) for name, state in states.items() if state is not None}


Position = tuple[str, int, int]  # (physical topic, partition, offset)


def _live_positions(live: Settings, target: Settings, log: StageLog) -> dict[Position, Position]:
    """Each copied record's position in the namespace -> its position in the live topic: per partition, the
    namespace holds the live records in their order, less the stage's own."""
    by_partition: dict[tuple[str, int], list[tuple[int, bytes | None]]] = {}
    for consumed in log.inputs:
        by_partition.setdefault((consumed.topic, consumed.partition), []).append((consumed.offset, consumed.value))
    mapping: dict[Position, Position] = {}
    for topic in (*log.pipeline.inputs, *log.pipeline.broadcast_inputs):
        live_name = physical_name(live, topic)
        cursor: dict[int, int] = {}
        for copied in read_topic(target, topic):
            records = by_partition.get((live_name, copied.partition), [])
            at = cursor.get(copied.partition, 0)
            while at < len(records) and records[at][1] != copied.value:
                at += 1
            if at < len(records):
                mapping[(copied.topic, copied.partition, copied.offset)] = (live_name, copied.partition, records[at][0])
                cursor[copied.partition] = at + 1
    return mapping


def _at_live_position(record: Record, to_live: dict[Position, Position]) -> Record:
    source = record.get("source_topic")
    if not isinstance(source, str) or record.get("source_offset") is None:
        return record
    found = to_live.get((source, record["source_partition"], record["source_offset"]))
    if found is None:
        return record
    topic, partition, offset = found
    meta = dict(record["meta"])
    if meta["causation_id"] is None:  # its id derives from its source's position (processors/runtime/dead_letters.py)
        basis = f"{topic}/{partition}/{offset}"
        meta["event_id"] = derived_event_id(basis, meta["producer"], 0)
        meta["correlation_id"] = basis
    return {**record, "meta": meta, "source_topic": topic, "source_offset": offset}
