"""Replay a live session: each stage of its topology re-run from its input topics in the memory engine, and the
replayed outputs compared with the live ones, event by event (`sq replay run`, `sq replay diff`).

A stage is replayed from the records of its Kafka inputs as the log holds them (committed records only), in
the order the live stage applied them (replay/order.py), each through the same ``apply_record`` step the
kafka engine runs (so a bad record is dead-lettered alike). Its outputs are compared, per output partition,
with the live stage's own records there (those its cores or the stage itself produced); only
``meta.ingest_time_us`` is set aside. Each core's state after the replay is hashed and compared with the
state the live workers left in the core's changelog topic (latest record per key).

``--from``/``--to`` (replay/window.py) bound the comparison to the outputs of the inputs the live stage applied
inside the window, in its application order. The replay still starts at the beginning of the log (the
changelogs cannot give the state as of an earlier point) and stops at the window's end; the states are
compared with the live changelogs only when the window runs to the end of the log.

A stage of another topology than the one that ran reads topics the live session handed over in process, and
would meet other application orders: ``--topology`` names the topology the session ran.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from connectors.audit.story import jsonable
from processors.core import Emit
from processors.runtime.dead_letters import SourceRecord
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import Pipeline, topology_stages
from processors.runtime.registry import stage_factories
from processors.runtime.state_codec import decode_state
from processors.runtime.step import InputCheck, apply_record
from replay.order import InputPosition, application_order
from replay.window import Span, TimeOffsets, Window, WindowError, parse_window, resolve
from schemas.codec import Codec, default_codec
from schemas.errors import SerializationError
from settings import Settings
from topics.admin import admin_client, physical_name
from topics.catalogue import DEAD_LETTERS, changelog_topic, spec_for
from topics.client import ConsumedRecord, read_topic
from topics.partitioning import partition_for

Record = dict[str, Any]
Partition = tuple[str, int]  # (physical topic, partition)


@dataclass
class StageReplay:
    """One stage replayed: its outputs by partition, its cores' states, how fast."""

    stage: str
    inputs: int = 0
    outputs: dict[Partition, list[Record]] = field(default_factory=dict)
    live: dict[Partition, list[tuple[int, Record]]] = field(default_factory=dict)  # (offset, record)
    # Where in the application order the input each output descends from was applied (replay/window.py):
    output_places: dict[Partition, list[int]] = field(default_factory=dict)
    live_places: dict[Partition, list[int]] = field(default_factory=dict)
    span: Span = field(default_factory=lambda: Span(0, 0))  # the window, resolved
    state_hashes: dict[str, str] = field(default_factory=dict)
    live_state_hashes: dict[str, str] = field(default_factory=dict)
    forced: int = 0  # contradictory ordering constraints broken (replay/order.py)
    input_seconds: float = 0.0  # consuming the inputs and decoding their event ids
    read_seconds: float = 0.0  # that, and reading the live outputs (for the order and the diff)
    apply_seconds: float = 0.0  # the cores

    @property
    def produced(self) -> int:
        return sum(len(records) for records in self.outputs.values())


@dataclass
class Divergence:
    topic: str
    partition: int
    index: int  # the position among the stage's records in that partition
    live_offset: int | None
    live: Record | None
    replayed: Record | None

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "index": self.index,
            "live_offset": self.live_offset,
            "live": jsonable(self.live),
            "replayed": jsonable(self.replayed),
        }


@dataclass
class SessionDiff:
    stages: list[StageReplay]
    window: Window
    compared: int = 0
    differences: int = 0
    first: Divergence | None = None

    @property
    def ok(self) -> bool:
        return self.differences == 0 and all(
            s.state_hashes == s.live_state_hashes for s in self.stages if state_compared(s)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "window": self.window.as_json(),
            "compared": self.compared,
            "differences": self.differences,
            "first_divergence": None if self.first is None else self.first.as_json(),
            "stages": {s.stage: stage_json(s) for s in self.stages},
        }


def stage_json(replayed: StageReplay) -> dict[str, Any]:
    return {
        "inputs": replayed.inputs,
        "window_inputs": replayed.span.stop - replayed.span.start,
        "replayed_inputs": replayed.span.stop,  # from the beginning of the log to the window's end
        "state_compared": state_compared(replayed),
        "outputs": replayed.produced,
        "state_hashes": replayed.state_hashes,
        "live_state_hashes": replayed.live_state_hashes,
        "forced_orderings": replayed.forced,
        "input_seconds": round(replayed.input_seconds, 3),
        "read_seconds": round(replayed.read_seconds, 3),
        "apply_seconds": round(replayed.apply_seconds, 3),
    }


def state_compared(replayed: StageReplay) -> bool:
    """The live changelogs hold the state at the end of the log: compared when the window runs to it."""
    return replayed.span.stop == replayed.inputs and bool(replayed.live_state_hashes)


WHOLE_LOG = parse_window("BEGIN", "END")


def replay_topology(
    settings: Settings,
    topology: str,
    *,
    window: Window = WHOLE_LOG,
    codec: Codec | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
) -> list[StageReplay]:
    """Raises WindowError when the window cannot be replayed in a stage (past its end, inverted, an offset the
    log does not hold)."""
    codec = codec or default_codec()
    replayed = []
    for stage in topology_stages(topology):
        on_stage(stage)
        replayed.append(replay_stage(settings, stage, codec, window))
    return replayed


@dataclass
class StageLog:
    """A stage's inputs as the log holds them, its live outputs, and the order the live stage applied them in."""

    pipeline: Pipeline
    inputs: list[ConsumedRecord]
    checks: list[InputCheck]
    producers: set[str]  # the meta.producer of the stage's own records
    live: dict[Partition, list[tuple[int, Record]]]
    roots: list[list[int | None]]
    positions: list[InputPosition]
    order: list[int]
    forced: int
    input_seconds: float
    read_seconds: float


def read_stage_log(settings: Settings, stage: str, codec: Codec) -> StageLog:
    pipeline = MemoryEngine(stage_factories(stage, settings), name=stage).pipeline
    began = time.monotonic()
    inputs: list[ConsumedRecord] = []
    checks: list[InputCheck] = []
    input_ids: dict[str, int] = {}
    by_position: dict[tuple[str, int, int], int] = {}
    for topic, keyed in [(t, True) for t in pipeline.inputs] + [(t, False) for t in pipeline.broadcast_inputs]:
        check = InputCheck(topic, keyed=keyed)
        for consumed in read_topic(settings, topic):
            index = len(inputs)
            inputs.append(consumed)
            checks.append(check)
            by_position[(consumed.topic, consumed.partition, consumed.offset)] = index
            event_id = meta_field(codec, consumed.value, "event_id")
            if event_id is not None:
                input_ids.setdefault(event_id, index)
    input_seconds = time.monotonic() - began
    ranks = {t: r for r, t in enumerate((*pipeline.inputs, *pipeline.broadcast_inputs))}
    logical_of = {physical_name(settings, t): t for t in ranks}
    producers = {core.name for core in pipeline.cores} | {pipeline.name}
    live = stage_outputs(settings, codec, (*pipeline.outputs, DEAD_LETTERS), producers)
    roots = _roots(live, input_ids, by_position)
    positions = [
        InputPosition(ranks[logical_of[c.topic]], c.topic, c.partition, c.offset, c.timestamp_ms) for c in inputs
    ]
    ordering = application_order(positions, [[r for r in rs if r is not None] for rs in roots])
    return StageLog(
        pipeline,
        inputs,
        checks,
        producers,
        live,
        roots,
        positions,
        ordering.order,
        ordering.forced,
        input_seconds,
        time.monotonic() - began,
    )


def replay_stage(settings: Settings, stage: str, codec: Codec, window: Window = WHOLE_LOG) -> StageReplay:
    engine = MemoryEngine(stage_factories(stage, settings), name=stage)
    pipeline = engine.pipeline
    result = StageReplay(stage)
    all_inputs = (*pipeline.inputs, *pipeline.broadcast_inputs)
    begin_offsets = _offsets_at(settings, all_inputs, window.begin.time_ms)
    end_offsets = _offsets_at(settings, all_inputs, window.end.time_ms)
    if window.begin.time_ms is not None and all(first is None for first in begin_offsets.values()):
        raise WindowError(
            f"--from {window.begin.text} is past the end of stage {stage}'s inputs: the log holds no input at or "
            "after that time; give an earlier --from (BEGIN replays the whole log)"
        )
    log = read_stage_log(settings, stage, codec)
    inputs = log.inputs
    result.input_seconds, result.read_seconds = log.input_seconds, log.read_seconds
    result.live = log.live
    result.forced = log.forced
    result.inputs = len(inputs)
    physical = {t: physical_name(settings, t) for t in all_inputs}
    result.span = resolve(
        window,
        log.positions,
        log.order,
        physical=physical,
        begin_offsets=begin_offsets,
        end_offsets=end_offsets,
        stage=stage,
    )
    result.live_places = _live_places(result.live, log.roots, log.order)
    began = time.monotonic()
    emitted: list[tuple[int, Emit]] = []
    for place, index in enumerate(log.order[: result.span.stop]):
        consumed = inputs[index]
        key = consumed.key.encode() if consumed.key is not None else None
        source = SourceRecord(
            consumed.topic, consumed.partition, consumed.offset, key, consumed.value, consumed.timestamp_ms * 1000
        )
        emitted += [(place, emit) for emit in apply_record(pipeline, codec, log.checks[index], source)]
    result.apply_seconds = time.monotonic() - began
    result.outputs, result.output_places = _by_partition(settings, codec, emitted)
    engine.checkpoint()
    result.state_hashes = {name: state_hash(state) for name, state in engine.changelog.items()}
    if result.span.stop == len(inputs):  # the changelogs hold the state at the end of the log, not before
        live_states = {core.name: live_state(settings, core.name) for core in pipeline.cores}
        result.live_state_hashes = {n: state_hash(state) for n, state in live_states.items() if state is not None}
    return result


def _offsets_at(settings: Settings, topics: Iterable[str], time_ms: int | None) -> TimeOffsets:
    """Per partition of the topics, the broker's first offset at or after the time (None: none there)."""
    if time_ms is None:
        return {}
    consumer = Consumer(settings.kafka_config(**{"group.id": "sq-replay", "enable.auto.commit": False}))
    try:
        wanted = []
        for topic in dict.fromkeys(topics):
            name = physical_name(settings, topic)
            metadata = consumer.list_topics(name, timeout=30).topics[name]
            if metadata.error is not None:
                raise RuntimeError(f"topic {name} cannot be read: {metadata.error}; did `sq topics create` run?")
            wanted += [TopicPartition(name, p, time_ms) for p in metadata.partitions]
        found = consumer.offsets_for_times(wanted, timeout=30) if wanted else []
        return {(f.topic, f.partition): (f.offset if f.offset >= 0 else None) for f in found}
    finally:
        consumer.close()


def _live_places(
    live: dict[Partition, list[tuple[int, Record]]], roots: list[list[int | None]], order: list[int]
) -> dict[Partition, list[int]]:
    """Each live output's place: its root's place in the application order; an output of unknown descent takes
    the place of the output before it in its partition (a stage produces in the order it applies)."""
    place = [0] * len(order)
    for at, index in enumerate(order):
        place[index] = at
    places: dict[Partition, list[int]] = {}
    for key, partition_roots in zip(live, roots, strict=True):
        last = 0
        placed = []
        for root in partition_roots:
            last = place[root] if root is not None else last
            placed.append(last)
        places[key] = placed
    return places


def meta_field(codec: Codec, value: bytes | None, field: str) -> str | None:
    """One field of a record's meta (``event_id``, ``producer``); None for a tombstone or an undecodable record."""
    if value is None:
        return None
    try:
        meta = codec.decode(value).record.get("meta")
    except SerializationError:
        return None
    return str(meta[field]) if isinstance(meta, dict) else None


def stage_outputs(
    settings: Settings, codec: Codec, topics: Iterable[str], producers: set[str]
) -> dict[Partition, list[tuple[int, Record]]]:
    """The stage's own records in each output partition, in offset order."""
    live: dict[Partition, list[tuple[int, Record]]] = defaultdict(list)
    for topic in dict.fromkeys(topics):
        for consumed in read_topic(settings, topic):
            if consumed.value is None:
                continue
            try:
                record = codec.decode(consumed.value).record
            except SerializationError:
                continue
            if record["meta"]["producer"] in producers:
                live[(consumed.topic, consumed.partition)].append((consumed.offset, record))
    for records in live.values():
        records.sort(key=lambda pair: pair[0])
    return dict(live)


def _roots(
    live: dict[Partition, list[tuple[int, Record]]],
    input_ids: dict[str, int],
    by_position: dict[tuple[str, int, int], int],
) -> list[list[int | None]]:
    """Per output partition, the input each output descends from (None: of unknown descent)."""
    cause_of = {str(r["meta"]["event_id"]): r["meta"]["causation_id"] for records in live.values() for _, r in records}

    def root(record: Record) -> int | None:
        if "source_offset" in record and record.get("source_offset") is not None:  # a dead letter of an input
            found = by_position.get((record["source_topic"], record["source_partition"], record["source_offset"]))
            if found is not None:
                return found
        cause = record["meta"]["causation_id"]
        for _ in range(64):  # a causal chain inside one stage is a few hops long
            if cause is None:
                return None
            if cause in input_ids:
                return input_ids[cause]
            cause = cause_of.get(cause)
        return None

    return [[root(record) for _, record in records] for records in live.values()]


def _by_partition(
    settings: Settings, codec: Codec, emitted: list[tuple[int, Emit]]
) -> tuple[dict[Partition, list[Record]], dict[Partition, list[int]]]:
    """The replayed outputs where the live stage wrote them, as a consumer decodes them, and the place in the
    application order of the input each came from."""
    out: dict[Partition, list[Record]] = defaultdict(list)
    places: dict[Partition, list[int]] = defaultdict(list)
    for place, emit in emitted:
        where = (physical_name(settings, emit.topic), partition_for(emit.key, spec_for(emit.topic).partitions))
        out[where].append(codec.decode(codec.encode(emit.schema, emit.record)).record)
        places[where].append(place)
    return dict(out), dict(places)


def live_state(settings: Settings, core: str) -> dict[str, Record] | None:
    """A core's state as its changelog topic holds it: the latest record per key, tombstones removing keys; None
    without a changelog topic (the log was not written by the kafka engine: nothing to compare with)."""
    state: dict[str, Record] = {}
    name = physical_name(settings, changelog_topic(core))
    found = admin_client(settings).list_topics(name, timeout=10).topics.get(name)
    if found is None or found.error is not None:
        return None
    for consumed in read_topic(settings, changelog_topic(core)):
        if consumed.key is None:
            continue
        if consumed.value is None:
            state.pop(consumed.key, None)
        else:
            state[consumed.key] = decode_state(consumed.value)
    return state


def state_hash(state: dict[str, Record]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _comparable(record: Record) -> Record:
    meta = {k: v for k, v in record["meta"].items() if k != "ingest_time_us"}
    return {**record, "meta": meta}


def diff_session(stages: list[StageReplay], window: Window = WHOLE_LOG) -> SessionDiff:
    """Every stage's replayed outputs against its live ones, partition by partition, event by event; of those,
    the outputs of the inputs applied inside the window (the replayed one's place, else the live one's)."""
    diff = SessionDiff(stages, window)
    for replayed in stages:
        span = replayed.span
        for key in sorted(set(replayed.live) | set(replayed.outputs)):
            live = replayed.live.get(key, [])
            ours = replayed.outputs.get(key, [])
            for index in range(max(len(live), len(ours))):
                places = replayed.output_places.get(key, []) if index < len(ours) else replayed.live_places[key]
                if not span.start <= places[index] < span.stop:
                    continue
                live_offset, live_record = live[index] if index < len(live) else (None, None)
                our_record = ours[index] if index < len(ours) else None
                diff.compared += 1
                same = (
                    live_record is not None
                    and our_record is not None
                    and _comparable(live_record) == _comparable(our_record)
                )
                if same:
                    continue
                diff.differences += 1
                if diff.first is None:
                    diff.first = Divergence(key[0], key[1], index, live_offset, live_record, our_record)
    return diff
