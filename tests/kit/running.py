"""Driving a running order path in tests: paced flows, limits applied first, and gauges of what workers committed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from connectors.order_flow import FlowCommand, FlowConfig, OrderFlow
from processors.runtime.pipeline import STAGES, Pipeline
from processors.runtime.registry import consumer_group, new_core
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import ORDERS_COMMANDS, RISK_LIMITS
from topics.client import AvroProducer


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)


class IdleGauge:
    """Whether stages' groups have committed up to the end of their Kafka inputs; one consumer per group, kept."""

    def __init__(self, settings: Settings, stages: tuple[str, ...]) -> None:
        self.settings = settings
        self.consumers = {
            stage: Consumer(
                settings.kafka_config(
                    **{"group.id": consumer_group(settings, "kafka", stage), "enable.auto.commit": False}
                )
            )
            for stage in stages
        }
        self.inputs = {
            stage: [physical_name(settings, t) for t in Pipeline([new_core(n) for n in STAGES[stage].cores]).inputs]
            for stage in stages
        }

    def caught_up(self, stage: str, topics: list[str] | None = None) -> bool:
        """False while a group is behind, or the broker cannot tell."""
        consumer = self.consumers[stage]
        try:
            for name in topics if topics is not None else self.inputs[stage]:
                metadata = consumer.list_topics(name, timeout=5).topics[name]
                partitions = [TopicPartition(name, p) for p in metadata.partitions]
                committed = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=5)}
                for tp in partitions:
                    high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)[1]
                    if high > 0 and committed[tp.partition] < high:
                        return False
            return True
        except KafkaException:
            return False

    def idle(self) -> bool:
        return all(self.caught_up(stage) for stage in self.consumers)

    def close(self) -> None:
        for consumer in self.consumers.values():
            consumer.close()


def group_caught_up(settings: Settings, stage: str, topics: tuple[str, ...]) -> bool:
    """Whether the stage's group has committed up to the end of each of ``topics`` (False while unreachable)."""
    gauge = IdleGauge(settings, (stage,))
    try:
        return gauge.caught_up(stage, [physical_name(settings, topic) for topic in topics])
    finally:
        gauge.close()


def send_limits(settings: Settings, limits_commands: list[FlowCommand], stage: str) -> None:
    """Every account's limits, applied (consumed by the stage) before any command is sent."""
    producer = AvroProducer(settings)
    for limits in limits_commands:
        producer.produce(RISK_LIMITS, limits.key, limits.schema, limits.record)
    producer.flush()
    wait_for(lambda: group_caught_up(settings, stage, (RISK_LIMITS,)), 120, "the limits to be applied")


@dataclass
class PacedFlow:
    """A flow's commands produced at ``rate`` per second by a thread; patient with a broker that goes away."""

    settings: Settings
    commands: list[FlowCommand]
    rate: float
    sent: int = 0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def of(cls, settings: Settings, config: FlowConfig, rate: float) -> tuple[PacedFlow, list[FlowCommand]]:
        """The paced flow and its accounts' limits (made first, as `sq flow` makes them)."""
        flow = OrderFlow(config)
        limits = flow.limits()
        return cls(settings, list(flow.commands()), rate), limits

    def start(self) -> PacedFlow:
        threading.Thread(target=self._run, name="paced-flow", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            # message.timeout.ms: a record waits out a broker restart in the producer's queue
            producer = AvroProducer(self.settings, None, **{"message.timeout.ms": 300_000})
            began = time.monotonic()
            for n, command in enumerate(self.commands, start=1):
                delay = began + n / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
                self.sent = n
            producer.flush(300)
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self.done.set()
