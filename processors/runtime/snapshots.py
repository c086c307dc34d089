"""Broadcast snapshots: what a stage's cores derived from broadcast inputs, and the positions it reflects.

Broadcast inputs (kill switches, reference prices, marks, market books) are read whole by every worker, so
their state is not keyed state and has no changelog. Instead the engine writes, every few seconds and in the
same transaction as the outputs, one record per core to the stage's compacted snapshot topic: key
``"<owner>|<core>"`` (the owner is the worker slot, or ``exclusive`` for an exclusive stage), value the core's
``broadcast_state()`` and the broadcast positions (next offset per topic partition) it reflects. A restart
reads the latest complete snapshot and only the broadcast records after its positions: restart time depends
on the snapshot interval, not on how much market data the topics hold.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from processors.core import Record
from settings import Settings

Positions = dict[tuple[str, int], int]  # (logical topic, partition) -> next offset to read


@dataclass(frozen=True)
class Snapshot:
    owner: str
    positions: Positions
    states: dict[str, Record]  # core name -> its broadcast state

    @property
    def progress(self) -> int:
        """How far it got, summed over partitions: to prefer the most advanced of several workers' snapshots."""
        return sum(self.positions.values())


def snapshot_record(owner: str, core: str, positions: Positions, state: Record) -> tuple[bytes, bytes]:
    """(key, value) of one core's snapshot record."""
    rows = [[topic, partition, offset] for (topic, partition), offset in sorted(positions.items())]
    value = json.dumps({"positions": rows, "state": state}, separators=(",", ":"))
    return f"{owner}|{core}".encode(), value.encode()


def read_snapshots(settings: Settings, topic: str, cores: list[str], timeout_s: float = 60.0) -> dict[str, Snapshot]:
    """The latest complete snapshot of each owner: one record per core, all at the same positions."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    consumer = Consumer(
        settings.kafka_config(
            **{"group.id": "sq-snapshot-restore", "enable.auto.commit": False, "isolation.level": "read_committed"}
        )
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s)
        if high > low:
            consumer.assign([TopicPartition(topic, 0, low)])
            deadline = time.monotonic() + timeout_s
            while consumer.position([TopicPartition(topic, 0)])[0].offset < high:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic} did not finish within {timeout_s} s")
                for message in consumer.consume(500, timeout=0.2):
                    key, value = message.key(), message.value()
                    if message.error() is not None or key is None or value is None:
                        continue
                    owner, _, core = key.decode().rpartition("|")
                    latest[owner, core] = json.loads(value)
    finally:
        consumer.close()
    snapshots: dict[str, Snapshot] = {}
    for owner in {owner for owner, _ in latest}:
        parts = [latest.get((owner, core)) for core in cores]
        if any(part is None for part in parts):
            continue  # written by a stage of other cores
        rows = [tuple(tuple(row) for row in part["positions"]) for part in parts if part is not None]
        if len(set(rows)) != 1:
            continue  # not from one transaction (cannot happen with read_committed): not to be trusted
        positions = {(topic, partition): offset for topic, partition, offset in rows[0]}
        states = {core: part["state"] for core, part in zip(cores, parts, strict=True) if part is not None}
        snapshots[owner] = Snapshot(owner, positions, states)
    return snapshots


def most_advanced(snapshots: dict[str, Snapshot]) -> Snapshot | None:
    """Any worker's snapshot is a valid start (every worker reads the same broadcast topics): the least tail."""
    return max(snapshots.values(), key=lambda snapshot: snapshot.progress, default=None)
