"""Driving the whole order path running as real worker processes, against the real broker.

One running path per deployment and module (starting workers costs seconds, faust more): a deployment is a
topology on the kafka engine (``single``, ``split``, ``cores``) or the ``cores`` topology on faust. Tests use
their own accounts so they never see each other's orders.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from processors.core import derived_event_id, order_id_for
from processors.runtime.pipeline import STAGES, topology_stages
from processors.runtime.registry import consumer_group
from processors.runtime.supervisor import WorkerProcess, start_worker, stop_workers
from schemas.codec import default_codec
from schemas.names import AMEND_ORDER, CANCEL_ORDER, NEW_ORDER
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from settings import Settings
from topics.admin import admin_client, physical_name
from topics.catalogue import CONTROL_EVENTS, ORDERS_COMMANDS, RISK_LIMITS
from topics.client import AvroProducer, read_events

# deployment -> (engine, topology)
DEPLOYMENTS = {
    "single": ("kafka", "single"),
    "split": ("kafka", "split"),
    "cores": ("kafka", "cores"),
    "faust": ("faust", "cores"),
}


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class RunningPath:
    settings: Settings
    deployment: str
    workers: list[WorkerProcess] = field(default_factory=list)
    producer: AvroProducer | None = None
    sequence: int = 0

    @property
    def engine(self) -> str:
        return DEPLOYMENTS[self.deployment][0]

    @property
    def stages(self) -> tuple[str, ...]:
        return topology_stages(DEPLOYMENTS[self.deployment][1])

    def stage_of(self, core: str) -> str:
        return next(stage for stage in self.stages if core in STAGES[stage].cores)

    def start(self, stages: tuple[str, ...] | None = None, worker: int = 0) -> None:
        for stage in stages or self.stages:
            self.workers.append(start_worker(stage, worker, self.engine, env=self.settings.as_env()))

    def kill(self, stage: str, worker: int | None = None) -> int:
        """SIGKILL a running worker of the stage (the given slot, else any): no clean shutdown, a transaction
        may be open. Returns its slot."""
        victim = next(
            w for w in self.workers if w.processor == stage and w.process.poll() is None and worker in (None, w.worker)
        )
        victim.process.kill()
        victim.process.wait(10)
        self.workers.remove(victim)
        return victim.worker

    def active_slot(self, stage: str) -> int | None:
        """The slot of the exclusive stage's worker that holds the lease, None while nobody does."""
        lease_group = f"{consumer_group(self.settings, self.engine, stage)}.lease"
        admin = admin_client(self.settings)
        try:
            group = admin.describe_consumer_groups([lease_group], request_timeout=10)[lease_group].result()
        except KafkaException:
            return None
        for member in group.members or []:
            if member.assignment is not None and member.assignment.topic_partitions and member.group_instance_id:
                return int(member.group_instance_id.rsplit(".", 1)[1])
        return None

    def stop(self) -> None:
        stop_workers(self.workers)
        self.workers.clear()

    def meta(self, time_us: int | None = None) -> dict[str, Any]:
        self.sequence += 1
        event_id = derived_event_id(self.settings.topic_prefix, "test", self.sequence)
        now = time_us or time.time_ns() // 1000
        return {
            "event_id": event_id,
            "producer": "test",
            "event_time_us": now,
            "ingest_time_us": now,
            "causation_id": None,
            "correlation_id": event_id,
        }

    def send(self, topic: str, key: str, schema: str, record: dict[str, Any]) -> dict[str, Any]:
        if self.producer is None:
            self.producer = AvroProducer(self.settings)
        self.producer.produce(topic, key, schema, record)
        self.producer.flush()
        return record

    def new_order(self, account: str, symbol: str, side: str, quantity: int, price: int | None, **extra: Any) -> dict:  # type: ignore[type-arg]
        client_order_id = extra.pop("client_order_id", f"c-{uuid.uuid4().hex[:10]}")
        record = {
            "meta": self.meta(),
            "account": account,
            "order_id": order_id_for(account, client_order_id),
            "client_order_id": client_order_id,
            "symbol": symbol,
            "side": side,
            "order_type": "LIMIT" if price is not None else "MARKET",
            "quantity": quantity,
            "price": price,
            "stop_price": None,
            "time_in_force": "GTC" if price is not None else "IOC",
            "expire_time_us": None,
            "post_only": False,
            "reduce_only": False,
            "venue": None,
            "parent_order_id": None,
            "execution": None,
        }
        record.update(extra)
        return self.send(ORDERS_COMMANDS, account, NEW_ORDER, record)

    def cancel(self, account: str, order_id: str, symbol: str | None = None) -> dict:  # type: ignore[type-arg]
        record = {"meta": self.meta(), "account": account, "order_id": order_id, "symbol": symbol}
        return self.send(ORDERS_COMMANDS, account, CANCEL_ORDER, record)

    def amend(self, account: str, order_id: str, quantity: int, price: int | None = None) -> dict:  # type: ignore[type-arg]
        record = {
            "meta": self.meta(),
            "account": account,
            "order_id": order_id,
            "quantity": quantity,
            "price": price,
            "stop_price": None,
        }
        return self.send(ORDERS_COMMANDS, account, AMEND_ORDER, record)

    def control(self, schema: str, key: str, **fields: Any) -> dict:  # type: ignore[type-arg]
        return self.send(CONTROL_EVENTS, key, schema, {"meta": self.meta(), **fields})

    def limits(self, account: str, **fields: Any) -> dict:  # type: ignore[type-arg]
        record = {"meta": self.meta(), "account": account, **fields}
        return self.send(RISK_LIMITS, account, RISK_LIMITS_SCHEMA, record)

    def log_size(self, topic: str) -> int:
        """How many offsets the topic holds (records and transaction markers): a cheap progress gauge."""
        name = physical_name(self.settings, topic)
        consumer = Consumer(self.settings.kafka_config(**{"group.id": "sq-test-gauge"}))
        try:
            partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
            return sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions)
        except KafkaException:  # a partition the broker is still taking leadership of: no progress to report
            return 0
        finally:
            consumer.close()

    def consumed(self, core: str, topic: str) -> bool:
        """Whether the consumer group of the stage running ``core`` has committed every record the topic holds now."""
        group = consumer_group(self.settings, self.engine, self.stage_of(core))
        name = physical_name(self.settings, topic)
        consumer = Consumer(self.settings.kafka_config(**{"group.id": group, "enable.auto.commit": False}))
        try:
            partitions = [
                TopicPartition(name, p) for p in consumer.list_topics(name, timeout=10).topics[name].partitions
            ]
            committed = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)}
            for tp in partitions:
                high = consumer.get_watermark_offsets(tp, timeout=10)[1]
                if high > 0 and committed[tp.partition] < high:
                    return False
            return True
        finally:
            consumer.close()

    def records(self, topic: str, where: Callable[[dict[str, Any]], bool] = lambda r: True) -> list[dict[str, Any]]:
        return [d.record for d in read_events(self.settings, topic, default_codec()) if where(d.record)]
