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
    missing = [
        NewTopic(physical_name(settings, s.name), s.partitions, replication_factor=-1, config=s.config())
        for s in specs
        if physical_name(settings, s.name) not in live
    ]
    created = _create(settings, admin, missing)
    reports: dict[str, TopicReport] = {}
    for spec in specs:
        name = physical_name(settings, spec.name)
        if name in created:
            reports[spec.name] = TopicReport(spec, name, "created")
    existing = [spec for spec in specs if spec.name not in reports]
    for spec, differences in zip(existing, _differences(settings, admin, existing), strict=True):
        name = physical_name(settings, spec.name)
        reports[spec.name] = TopicReport(spec, name, "differs" if differences else "exists", differences)
    return [reports[spec.name] for spec in specs]


def cluster_replication(settings: Settings) -> int:
    """The replication factor the cluster gives a new topic (what ``replication_factor=-1`` asks for): its
    brokers' ``default.replication.factor``; where the configs cannot be read (a managed cluster's ACLs), as many
    as there are brokers, at most 3."""
    admin = admin_client(settings)
    brokers = sorted(admin.list_topics(timeout=ADMIN_TIMEOUT_S).brokers)
    resource = ConfigResource(ResourceType.BROKER, str(brokers[0]))
    try:
        configs = admin.describe_configs([resource], request_timeout=ADMIN_TIMEOUT_S)[resource].result()
        return int(configs["default.replication.factor"].value)
    except (KafkaException, KeyError, ValueError):
        return min(3, len(brokers))


class MissingTopicsError(RuntimeError):
    """A topic a process needs does not exist: the operator has to create the catalogue's topics."""


def ensure_topics(
    settings: Settings, wanted: Iterable[tuple[str, int, dict[str, str]]], required: Iterable[str] = ()
) -> list[str]:
    """The physical names of runtime topics (changelogs, snapshots, a lease) given as ``(logical, partitions,
    config)``, the missing ones created; ``MissingTopicsError`` first, creating nothing, when one of the
    ``required`` catalogue topics (logical names) does not exist. One topic list for all of it: a worker's start
    asks about a dozen topics, and each list is a broker round trip."""
    wanted = list(wanted)
    names = [physical_name(settings, logical) for logical, _, _ in wanted]
    admin = admin_client(settings)
    live = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    absent = sorted({logical for logical in required if physical_name(settings, logical) not in live})
    if absent:
        raise MissingTopicsError(
            f"topics {', '.join(absent)} do not exist under prefix {settings.topic_prefix!r}; "
            "create them with `sq topics create`"
        )
    missing = [
        NewTopic(name, partitions, replication_factor=-1, config=config)
        for name, (_, partitions, config) in zip(names, wanted, strict=True)
        if name not in live
    ]
    _create(settings, admin, missing)
    return names


def _create(settings: Settings, admin: AdminClient, topics: list[NewTopic]) -> set[str]:
    """Create the topics and wait until they serve; the names this call created (another creator may have
    won a race: its topic exists, which is all that was wanted)."""
    if not topics:
        return set()
    futures = admin.create_topics(topics, operation_timeout=ADMIN_TIMEOUT_S, request_timeout=ADMIN_TIMEOUT_S)
    created = set()
    for topic in topics:
        try:
            futures[topic.topic].result()
            created.add(topic.topic)
        except KafkaException as error:
            if error.args[0].code() != error.args[0].TOPIC_ALREADY_EXISTS:
                raise
    wait_for_leaders(settings, [topic.topic for topic in topics])
    return created


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
