"""The faust-streaming engine: the same pure core as a faust agent, its state in a faust Table.

Measured pitfalls of faust-streaming 0.15, and what this engine does about them:
- its aiokafka consumer is built with a hard-coded ``fetch_max_wait_ms=1500``, which holds latency near
  1.2 s after any burst: ``lower_fetch_wait`` swaps in a consumer class with a low wait;
- agent concurrency above 1 can lose messages: concurrency stays 1 (scale by partitions and workers);
- exactly-once is experimental: the engine runs at-least-once, so after a crash a batch may be applied
  again (the cores are idempotent on order ids, fill ids and event ids, but outputs can be duplicated);
- it opens a web port unless told not to: ``web_enabled=False``.

State: the core's changed keys are written to a Table (faust keeps its changelog topic); on start the Table
is recovered by faust and loaded into a fresh core before the first event.
Broadcast inputs are consumed by an agent of their own; with several faust workers they are split between
the workers like any topic (a known limit of this engine; the kafka engine reads them whole on every worker).
Broadcast state (kill switches, marks) is not in the Table: a fresh core first reads the broadcast topics
whole, so a restarted worker still knows a kill switch set before it started. Barrier inputs (risk's
control.events) are read by a plain consumer up to the broker's end before each input event, so a kill
switch acts on the next command, as on the kafka engine.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable
from typing import Any

import aiokafka
import faust
import faust.transport.drivers.aiokafka as faust_aiokafka
from confluent_kafka import Consumer, Message

from processors.core import Core, Emit
from processors.runtime.broadcast import assign_from_start, read_to_end
from processors.runtime.dead_letters import SourceRecord
from processors.runtime.faust_broker import broker_credentials, broker_urls
from processors.runtime.pipeline import Pipeline
from processors.runtime.registry import consumer_group
from processors.runtime.step import InputCheck, apply_record
from schemas.codec import Codec, default_codec
from settings import Settings
from topics.admin import cluster_replication, physical_name
from topics.catalogue import DEAD_LETTERS, spec_for
from topics.client import read_topic

log = logging.getLogger(__name__)

FETCH_WAIT_MS = 5


def lower_fetch_wait(fetch_wait_ms: int = FETCH_WAIT_MS) -> None:
    """Make faust's aiokafka consumers wait at most ``fetch_wait_ms`` for data (faust hard-codes 1500 ms)."""

    class LowWaitConsumer(aiokafka.AIOKafkaConsumer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = fetch_wait_ms
            super().__init__(*args, **kwargs)

    low_wait = types.SimpleNamespace(**{**vars(aiokafka), "AIOKafkaConsumer": LowWaitConsumer})
    faust_aiokafka.aiokafka = low_wait  # type: ignore[attr-defined]  # the module global faust's driver reads


def build_app(core_factory: Callable[[], Core], settings: Settings, worker: int) -> faust.App:
    lower_fetch_wait()
    prototype = core_factory()
    codec = default_codec()
    datadir = settings.home / "faust" / f"{settings.topic_prefix}{prototype.name}-{worker}"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        consumer_group(settings, "faust", prototype.name),  # the app id is its group id
        broker=broker_urls(settings.bootstrap_servers),
        broker_credentials=broker_credentials(settings.kafka_properties),
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        topic_replication_factor=cluster_replication(settings),  # its changelog's; ours as the cluster's default
        topic_allow_declare=True,  # its own changelog and assignor topics; ours exist already
        processing_guarantee="at_least_once",
        broker_commit_every=100,
        broker_commit_interval=0.5,
        # A SIGKILLed worker's partitions are handed over after the session timeout (faust's default: 60 s).
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        table_cleanup_interval=3600,
        datadir=str(datadir),
        store="memory://",
    )
    table = app.Table("state", default=None, partitions=max(_partitions(t) for t in prototype.inputs))
    holder: dict[str, Pipeline] = {}
    # Barrier inputs (risk: control.events) are read by a plain consumer of this worker, up to the broker's
    # end before every input event, as the kafka engine does: a kill switch acts on the next command.
    barrier_topics = [physical_name(settings, t) for t in getattr(prototype, "barrier_inputs", ())]
    barrier = BarrierReader(settings, barrier_topics) if barrier_topics else None
    logical = {physical_name(settings, t): t for t in (*prototype.inputs, *prototype.broadcast_inputs)}
    checks = {t: InputCheck(t, keyed=t in prototype.inputs) for t in logical.values()}

    def core() -> Pipeline:
        """The worker's core, loaded from the recovered table the first time an event arrives."""
        if "core" not in holder:
            fresh = Pipeline([core_factory()])
            # Broadcast state first, while no keyed state is there to react: its outputs were sent before.
            for topic in prototype.broadcast_inputs:
                if physical_name(settings, topic) in barrier_topics:
                    continue
                for record in read_topic(settings, topic):
                    source = SourceRecord(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.key.encode() if record.key is not None else None,
                        record.value,
                        record.timestamp_ms * 1000,
                    )
                    apply_record(fresh, codec, checks[topic], source)
            if barrier is not None:
                barrier.catch_up(fresh, codec, checks, wait_s=60.0)
            only = fresh.cores[0]
            for key, state in table.items():
                if state is not None:
                    only.restore(key, state)
            only.state_changes()  # the Table already holds the keyed state
            holder["core"] = fresh
        return holder["core"]

    topics = {name: app.topic(physical_name(settings, name)) for name in (*prototype.outputs, DEAD_LETTERS)}

    async def send(current: Pipeline, emits: list[Emit]) -> None:
        for emit in emits:
            await topics[emit.topic].send(key=emit.key.encode(), value=codec.encode(emit.schema, emit.record))
        for changed_key, state in current.cores[0].state_changes().items():
            table[changed_key] = state

    async def handle(stream: faust.StreamT) -> None:  # type: ignore[type-arg]
        async for event in stream.events():
            message = event.message
            source = SourceRecord(
                message.topic,
                message.partition,
                message.offset,
                message.key,
                message.value,
                int(message.timestamp * 1_000_000),
            )
            current = core()
            if barrier is not None and logical[message.topic] in prototype.inputs:
                await send(current, barrier.catch_up(current, codec, checks, wait_s=1.0))
            await send(current, apply_record(current, codec, checks[logical[message.topic]], source))

    inputs = app.topic(*(physical_name(settings, t) for t in prototype.inputs))
    app.agent(inputs, name=f"{prototype.name}-inputs", concurrency=1)(handle)
    others = [physical_name(settings, t) for t in prototype.broadcast_inputs]
    others = [t for t in others if t not in barrier_topics]
    if others:
        app.agent(app.topic(*others), name=f"{prototype.name}-broadcast", concurrency=1)(handle)
    return app


class BarrierReader:
    """A plain consumer of the barrier topics, read whole from the start and then kept up to date."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        prefix = settings.topic_prefix
        self.consumer = Consumer(
            settings.kafka_config(
                **{
                    "group.id": "sq-barrier",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": 5,
                }
            )
        )
        self.partitions = assign_from_start(self.consumer, topics)
        self.logical = {topic: topic.removeprefix(prefix) for topic in topics}

    def catch_up(self, pipeline: Pipeline, codec: Codec, checks: dict[str, InputCheck], wait_s: float) -> list[Emit]:
        emits: list[Emit] = []

        def apply(messages: list[Message]) -> None:
            for m in messages:
                if m.error() is None:
                    source = SourceRecord.of(m)
                    emits.extend(apply_record(pipeline, codec, checks[self.logical[source.topic]], source))

        read_to_end(self.consumer, self.partitions, wait_s, apply)
        return emits


def _partitions(topic: str) -> int:
    return spec_for(topic).partitions


def run_faust_worker(
    core_factory: Callable[[], Core], settings: Settings, worker: int, max_seconds: float | None = None
) -> None:
    app = build_app(core_factory, settings, worker)
    if max_seconds is not None:

        @app.timer(interval=max_seconds, on_leader=False)  # type: ignore[untyped-decorator]  # faust is untyped
        async def _stop_after() -> None:
            raise SystemExit(0)

    worker_ = faust.Worker(app, loglevel="WARNING", quiet=True)
    for noisy in ("aiokafka", "faust", "mode"):  # left at DEBUG they cost seconds per thousand records
        logging.getLogger(noisy).setLevel(logging.WARNING)
    worker_.execute_from_commandline()
