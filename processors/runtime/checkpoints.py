"""A stage's checkpoint topic: broadcast snapshots, and the input positions of an exclusive stage.

Broadcast inputs (kill switches, reference prices, marks, market books) are read whole by every worker, so
their state is not keyed state and has no changelog. Instead the engine writes, every few seconds and in the
same transaction as the outputs, one record per core to the stage's compacted checkpoint topic: key
``"<owner>|<core>"`` (the owner is the worker slot, or ``exclusive`` for an exclusive stage), value the core's
``broadcast_state()`` and the broadcast positions (next offset per topic partition) it reflects. A restart
reads the latest complete snapshot and only the broadcast records after its positions: restart time depends
on the snapshot interval, not on how much market data the topics hold.

An exclusive stage also writes, in every transaction, where it is in every input (key ``"exclusive|positions"``):
the tracking record of its outputs, committed atomically with them, from which the next active worker resumes.
(Group stages commit their offsets with ``send_offsets_to_transaction`` instead, so a rebalance fences a
worker whose partitions moved on; an exclusive stage is fenced through its lease and its one transactional id.)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from processors.core import Record
from processors.runtime.changelog import RESTORE_POLL_S
from settings import Settings

Positions = dict[tuple[str, int], int]  # (logical topic, partition) -> next offset to read
POSITIONS_KEY = "positions"


@dataclass(frozen=True)
class Snapshot:
    owner: str
    positions: Positions
    states: dict[str, Record]  # core name -> its broadcast state

    @property
    def progress(self) -> int:
        """How far it got, summed over partitions: to prefer the most advanced of several workers' snapshots."""
        return sum(self.positions.values())


@dataclass
class Checkpoints:
    snapshots: dict[str, Snapshot] = field(default_factory=dict)  # owner -> its latest complete snapshot
    positions: dict[str, Positions] = field(default_factory=dict)  # owner -> its latest input positions

    def most_advanced_snapshot(self) -> Snapshot | None:
        """Any worker's snapshot is a valid start (every worker reads the same broadcast topics): the least tail."""
        return max(self.snapshots.values(), key=lambda snapshot: snapshot.progress, default=None)


def _rows(positions: Positions) -> list[list[Any]]:
    return [[topic, partition, offset] for (topic, partition), offset in sorted(positions.items())]


def snapshot_record(owner: str, core: str, positions: Positions, state: Record) -> tuple[bytes, bytes]:
    """(key, value) of one core's snapshot record."""
    value = json.dumps({"positions": _rows(positions), "state": state}, separators=(",", ":"))
    return f"{owner}|{core}".encode(), value.encode()


def positions_record(owner: str, positions: Positions) -> tuple[bytes, bytes]:
    """(key, value) of an owner's input positions."""
    return f"{owner}|{POSITIONS_KEY}".encode(), json.dumps(_rows(positions), separators=(",", ":")).encode()


def read_checkpoints(settings: Settings, topic: str, cores: list[str], timeout_s: float = 60.0) -> Checkpoints:
    """The latest complete snapshot and the latest positions of each owner."""
    latest: dict[tuple[str, str], Any] = {}
    consumer = Consumer(
        settings.kafka_config(
            **{"group.id": "sq-checkpoint-restore", "enable.auto.commit": False, "isolation.level": "read_committed"}
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
                for message in consumer.consume(500, timeout=RESTORE_POLL_S):
                    key, value = message.key(), message.value()
                    if message.error() is not None or key is None or value is None:
                        continue
                    owner, _, what = key.decode().rpartition("|")
                    latest[owner, what] = json.loads(value)
    finally:
        consumer.close()
    found = Checkpoints()
    for owner in {owner for owner, _ in latest}:
        rows = latest.get((owner, POSITIONS_KEY))
        if rows is not None:
            found.positions[owner] = {(topic, partition): offset for topic, partition, offset in rows}
        parts = [latest.get((owner, core)) for core in cores]
        if any(part is None for part in parts):
            continue  # written by a stage of other cores
        row_sets = [tuple(tuple(row) for row in part["positions"]) for part in parts if part is not None]
        if len(set(row_sets)) != 1:
            continue  # not from one transaction (cannot happen with read_committed): not to be trusted
        positions = {(topic, partition): offset for topic, partition, offset in row_sets[0]}
        states = {core: part["state"] for core, part in zip(cores, parts, strict=True) if part is not None}
        found.snapshots[owner] = Snapshot(owner, positions, states)
    return found
