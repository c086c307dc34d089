"""Creating and checking the catalogue's topics on a live cluster (`sq topics create | list`)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not listed in __all__
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from settings import Settings
from topics.catalogue import CATALOGUE, TopicSpec

ADMIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TopicReport:
    spec: TopicSpec
    topic: str  # the physical name (with the settings' prefix)
    outcome: str  # "created" | "exists" | "differs"
    differences: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.topic, "outcome": self.outcome, "differences": self.differences}


def physical_name(settings: Settings, logical: str) -> str:
    return settings.topic_prefix + logical


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_config())  # type: ignore[arg-type]  # librdkafka values are str/int/bool


def create_topics(settings: Settings, specs: Iterable[TopicSpec] = CATALOGUE) -> list[TopicReport]:
    """Create what is missing; report a live topic whose partitions or configs differ from the catalogue."""
    admin = admin_client(settings)
    specs = list(specs)
    live = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    missing = [spec for spec in specs if physical_name(settings, spec.name) not in live]
    reports: dict[str, TopicReport] = {}
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(physical_name(settings, s.name), s.partitions, replication_factor=-1, config=s.config())
                for s in missing
            ],
            operation_timeout=ADMIN_TIMEOUT_S,
            request_timeout=ADMIN_TIMEOUT_S,
        )
        for spec in missing:
            name = physical_name(settings, spec.name)
            try:
                futures[name].result()
                reports[spec.name] = TopicReport(spec, name, "created")
            except KafkaException as error:
                if error.args[0].code() != error.args[0].TOPIC_ALREADY_EXISTS:  # a concurrent creator won
                    raise
        wait_for_leaders(settings, [physical_name(settings, s.name) for s in missing])
    existing = [spec for spec in specs if spec.name not in reports]
    for spec, differences in zip(existing, _differences(settings, admin, existing), strict=True):
        name = physical_name(settings, spec.name)
        reports[spec.name] = TopicReport(spec, name, "differs" if differences else "exists", differences)
    return [reports[spec.name] for spec in specs]


def ensure_topics(settings: Settings, wanted: Iterable[tuple[str, int, dict[str, str]]]) -> list[str]:
    """The physical names of runtime topics (changelogs, snapshots, a lease) given as ``(logical, partitions,
    config)``, the missing ones created: one topic list for all of them (a worker's start asks for half a
    dozen; each list is a broker round trip)."""
    wanted = list(wanted)
    names = [physical_name(settings, logical) for logical, _, _ in wanted]
    admin = admin_client(settings)
    live = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    missing = [
        NewTopic(name, partitions, replication_factor=-1, config=config)
        for name, (_, partitions, config) in zip(names, wanted, strict=True)
        if name not in live
    ]
    if missing:
        futures = admin.create_topics(missing, operation_timeout=ADMIN_TIMEOUT_S)
        for topic in missing:
            try:
                futures[topic.topic].result()
            except KafkaException as error:
                if error.args[0].code() != error.args[0].TOPIC_ALREADY_EXISTS:  # another worker created it first
                    raise
        wait_for_leaders(settings, [topic.topic for topic in missing])
    return names


class MissingTopicsError(RuntimeError):
    """A topic a process needs does not exist: the operator has to create the catalogue's topics."""


def missing_topics(settings: Settings, logical: Iterable[str]) -> list[str]:
    """The logical names among ``logical`` whose topic does not exist on the cluster."""
    live = admin_client(settings).list_topics(timeout=ADMIN_TIMEOUT_S).topics
    return sorted({name for name in logical if physical_name(settings, name) not in live})


def wait_for_leaders(settings: Settings, names: list[str], timeout_s: float = ADMIN_TIMEOUT_S) -> None:
    """Return once every partition of the named topics answers a watermark request: a topic the controller
    has just created answers "unknown topic" or "not leader" for a moment (even after metadata names a
    leader), and a client that uses it then fails."""
    consumer = Consumer(settings.kafka_config(**{"group.id": "sq-topics-ready"}))
    deadline = time.monotonic() + timeout_s
    try:
        for name in names:
            while True:
                try:
                    metadata = consumer.list_topics(name, timeout=ADMIN_TIMEOUT_S).topics[name]
                    if metadata.error is None and metadata.partitions:
                        for partition in metadata.partitions:
                            consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=5)
                        break
                except KafkaException:
                    pass  # not served yet
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topic {name} has a partition without a leader after {timeout_s} s")
                time.sleep(0.05)
    finally:
        consumer.close()


def _differences(settings: Settings, admin: AdminClient, specs: list[TopicSpec]) -> list[list[str]]:
    if not specs:
        return []
    metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    resources = [ConfigResource(ResourceType.TOPIC, physical_name(settings, s.name)) for s in specs]
    configs = admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT_S)
    result = []
    for spec, resource in zip(specs, resources, strict=True):
        found: list[str] = []
        partitions = len(metadata[resource.name].partitions)
        if partitions != spec.partitions:
            found.append(f"partitions: live {partitions}, catalogue {spec.partitions}")
        live_config = configs[resource].result()
        for key, wanted in spec.config().items():
            actual = live_config[key].value if key in live_config else None
            if actual != wanted:
                found.append(f"{key}: live {actual}, catalogue {wanted}")
        result.append(found)
    return result


def list_topics(settings: Settings) -> list[dict[str, Any]]:
    """The catalogue joined with what the cluster has: one object per topic."""
    live = admin_client(settings).list_topics(timeout=ADMIN_TIMEOUT_S).topics
    rows = []
    for spec in CATALOGUE:
        name = physical_name(settings, spec.name)
        rows.append(
            {
                "name": name,
                "key": spec.key,
                "partitions": spec.partitions,
                "live_partitions": len(live[name].partitions) if name in live else None,
                "cleanup_policy": spec.cleanup_policy,
                "retention_ms": spec.retention_ms,
                "schema": list(spec.value_schemas),
                "exists": name in live,
                "description": spec.description,
            }
        )
    return rows


def delete_prefixed_topics(settings: Settings) -> list[str]:
    """Delete every topic under the settings' prefix (a test's or a benchmark's own); never without a prefix."""
    if not settings.topic_prefix:
        raise ValueError("refusing to delete topics without a topic prefix: that would be the live catalogue")
    admin = admin_client(settings)
    names = [t for t in admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics if t.startswith(settings.topic_prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=ADMIN_TIMEOUT_S).values():
            try:
                future.result()
            except KafkaException as error:
                if error.args[0].code() != error.args[0].UNKNOWN_TOPIC_OR_PART:  # already gone
                    raise
    return names
