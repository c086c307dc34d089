"""How far each projection is behind the log: the offsets stored with its rows vs the input topics' ends.

``lag_records`` counts the offsets between the two (a read_committed end: open transactions are not yet there
to apply; the sink stores its position past transaction markers once idle, so a caught-up projection reads 0).
``lag_ms``: 0 when caught up; when behind, the time since the newest applied record's broker timestamp (the
projection shows the log as it was then), or None when it has applied nothing yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]  # exported, untyped

from connectors.postgres.projection import INPUTS, PROJECTION
from settings import Settings
from topics.admin import admin_client, physical_name

Partition = tuple[str, int]  # (physical topic, partition)


class LagUnavailable(RuntimeError):
    """The broker or the database did not answer in time; the message says which."""


@dataclass(frozen=True, slots=True)
class ProjectionLag:
    name: str
    lag_records: int
    lag_ms: int | None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "lag_records": self.lag_records, "lag_ms": self.lag_ms}


def lag_of(
    name: str,
    ends: Mapping[Partition, int],
    stored: Mapping[Partition, tuple[int, int | None]],
    now_ms: int,
) -> ProjectionLag:
    """Pure: ``ends`` per input partition, ``stored`` (next offset, newest applied time ms) per partition."""
    records = 0
    newest: int | None = None
    for key, end in ends.items():
        offset, applied_ms = stored.get(key, (0, None))
        records += max(end - offset, 0)
        if applied_ms is not None:
            newest = applied_ms if newest is None else max(newest, applied_ms)
    if records == 0:
        return ProjectionLag(name, 0, 0)
    return ProjectionLag(name, records, None if newest is None else max(now_ms - newest, 0))


class LagProbe:
    """Measures the sink's projection lag; holds one admin client (cheap to ask again, for health checks)."""

    def __init__(self, settings: Settings, projection: str = PROJECTION) -> None:
        self.projection = projection
        self.topics = [physical_name(settings, topic) for topic in INPUTS]
        self._admin: AdminClient = admin_client(settings)

    def end_offsets(self, timeout_s: float) -> dict[Partition, int]:
        try:
            metadata = self._admin.list_topics(timeout=timeout_s).topics
            if missing := [topic for topic in self.topics if topic not in metadata]:
                raise LagUnavailable(f"no topic {', '.join(missing)} on the broker: `sq topics create` first")
            wanted = {
                TopicPartition(topic, partition): OffsetSpec.latest()  # type: ignore[no-untyped-call]
                for topic in self.topics
                for partition in metadata[topic].partitions
            }
            futures = self._admin.list_offsets(
                wanted, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=timeout_s
            )
            return {(tp.topic, tp.partition): future.result(timeout=timeout_s).offset for tp, future in futures.items()}
        except (KafkaException, TimeoutError) as error:
            raise LagUnavailable(f"the broker did not give the topics' ends: {error}") from None

    def stored(self, conn: psycopg.Connection[Any]) -> dict[Partition, tuple[int, int | None]]:
        rows = conn.execute(
            "SELECT topic, partition, next_offset, applied_time_ms FROM projection_offsets WHERE projection = %s",
            (self.projection,),
        ).fetchall()
        return {(topic, partition): (offset, applied) for topic, partition, offset, applied in rows}

    def measure(self, conn: psycopg.Connection[Any], now_ms: int, timeout_s: float) -> list[ProjectionLag]:
        """The lag of each projection this probe knows (the sink's one), ends read before the stored offsets."""
        ends = self.end_offsets(timeout_s)
        try:
            stored = self.stored(conn)
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
            raise LagUnavailable("the projection tables are missing or not migrated: run `sq db migrate`") from None
        except psycopg.Error as error:
            raise LagUnavailable(f"the database did not give the stored offsets: {error}") from None
        return [lag_of(self.projection, ends, stored, now_ms)]
