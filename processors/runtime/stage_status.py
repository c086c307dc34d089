"""What `sq status` says of each stage, asked of the broker alone (no worker needs to answer):

- ``workers``: members of the stage's consumer group (an exclusive stage: of its lease group, active and standby);
- ``lag_records``: offsets between the group's committed positions and the inputs' read_committed ends;
- ``state_records``: records in the stage's changelogs (compacted: at least its live keys, more until the broker
  compacts);
- ``last_event_ms``: the broker timestamp of the newest record among the stage's outputs;
- ``dead_letters``: records in the dead-letter topic that name the stage.

Stages nobody has ever run (no group, no committed offsets) are left out.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]  # exported, untyped

from processors.runtime.changelog import changelog_wanted
from processors.runtime.pipeline import STAGES, Pipeline
from processors.runtime.registry import stage_factories
from schemas.codec import default_codec
from settings import Settings
from topics.admin import admin_client, physical_name
from topics.catalogue import DEAD_LETTERS, stage_group
from topics.client import read_topic

TIMEOUT_S = 10.0


class StatusUnavailable(RuntimeError):
    """The broker did not answer in time."""


@dataclass(frozen=True)
class StageStatus:
    name: str
    workers: int
    lag_records: int
    state_records: int
    last_event_ms: int | None
    dead_letters: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workers": self.workers,
            "lag_records": self.lag_records,
            "state_records": self.state_records,
            "last_event_ms": self.last_event_ms,
            "dead_letters": self.dead_letters,
        }


def stage_statuses(
    settings: Settings, stages: Iterable[str] = STAGES, timeout_s: float = TIMEOUT_S
) -> list[StageStatus]:
    admin = admin_client(settings)
    try:
        topics = admin.list_topics(timeout=timeout_s).topics
        dead = dead_letters_by_stage(settings, timeout_s)
        found = []
        for name in stages:
            status = _stage_status(settings, admin, topics, name, dead=dead, timeout_s=timeout_s)
            if status is not None:
                found.append(status)
        return found
    except KafkaException as error:
        raise StatusUnavailable(f"the broker at {settings.bootstrap_servers} did not answer ({error})") from None


def dead_letters_by_stage(settings: Settings, timeout_s: float) -> Counter[str]:
    codec = default_codec()
    counts: Counter[str] = Counter()
    for record in read_topic(settings, DEAD_LETTERS, timeout_s):
        if record.value is not None:
            counts[str(codec.decode(record.value).record["stage"])] += 1
    return counts


def _stage_status(
    settings: Settings, admin: AdminClient, topics: dict[str, Any], name: str, *, dead: Counter[str], timeout_s: float
) -> StageStatus | None:
    spec = STAGES[name]
    pipeline = Pipeline([factory() for factory in stage_factories(spec)], spec.name)
    group = physical_name(settings, stage_group(spec.name))
    committed = _committed(admin, group, timeout_s)
    members = _members(admin, f"{group}.lease" if spec.exclusive else group, timeout_s)
    if not committed and not members:
        return None
    inputs = [physical_name(settings, topic) for topic in pipeline.inputs]
    ends = _ends(admin, topics, inputs, timeout_s)
    lag = sum(max(0, end - committed.get(key, 0)) for key, end in ends.items())
    changelogs = [physical_name(settings, changelog_wanted(core)[0]) for core in pipeline.cores]
    outputs = [physical_name(settings, t) for t in pipeline.outputs if t != DEAD_LETTERS]
    return StageStatus(
        name=spec.name,
        workers=members,
        lag_records=lag,
        state_records=_records(admin, topics, changelogs, timeout_s),
        last_event_ms=_newest_timestamp(settings, topics, outputs, timeout_s),
        dead_letters=dead[spec.name],
    )


def _committed(admin: AdminClient, group: str, timeout_s: float) -> dict[tuple[str, int], int]:
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout_s)
    result = futures[group].result(timeout=timeout_s)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or [] if tp.offset >= 0}


def _members(admin: AdminClient, group: str, timeout_s: float) -> int:
    described = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group].result(timeout=timeout_s)
    return len(described.members)


def _ends(
    admin: AdminClient, topics: dict[str, Any], names: list[str], timeout_s: float, latest: bool = True
) -> dict[tuple[str, int], int]:
    wanted = {
        TopicPartition(name, partition): OffsetSpec.latest() if latest else OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        for name in names
        if name in topics
        for partition in topics[name].partitions
    }
    if not wanted:
        return {}
    futures = admin.list_offsets(wanted, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=timeout_s)
    return {(tp.topic, tp.partition): future.result(timeout=timeout_s).offset for tp, future in futures.items()}


def _records(admin: AdminClient, topics: dict[str, Any], names: list[str], timeout_s: float) -> int:
    ends = _ends(admin, topics, names, timeout_s)
    starts = _ends(admin, topics, names, timeout_s, latest=False)
    return sum(max(0, end - starts.get(key, 0)) for key, end in ends.items())


def _newest_timestamp(settings: Settings, topics: dict[str, Any], names: list[str], timeout_s: float) -> int | None:
    """The newest broker timestamp among the last few records of each partition of ``names``."""
    from confluent_kafka import Consumer

    consumer = Consumer(settings.kafka_config(**{"group.id": "sq-status", "enable.auto.commit": False}))
    try:
        assignment, ends = [], {}
        for name in names:
            for partition in topics[name].partitions if name in topics else ():
                low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout_s)
                if high > low:  # the last records; a transaction marker may be the very last offset
                    assignment.append(TopicPartition(name, partition, max(low, high - 3)))
                    ends[name, partition] = high
        if not assignment:
            return None
        consumer.assign(assignment)
        newest: int | None = None
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=0.2):
                if message.error() is None:
                    stamp = message.timestamp()[1]
                    newest = stamp if newest is None else max(newest, stamp)
            for tp in consumer.position([TopicPartition(t, p) for t, p in ends]):
                if tp.offset >= ends[tp.topic, tp.partition]:
                    del ends[tp.topic, tp.partition]
        return newest
    finally:
        consumer.close()
