"""Dead letters: a record no stage could use goes to ``ops.deadletters`` with its bytes and the reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from confluent_kafka import Message

from processors.core import Emit, Record, derived_event_id
from schemas.names import DEAD_LETTER
from schemas.types import DeadLetterReason
from topics.catalogue import DEAD_LETTERS

DEAD_LETTER_SCHEMA: Final = DEAD_LETTER
MAX_DETAIL: Final = 4000
# The raw bytes kept in a dead letter at most: a larger value is replaced by its size and SHA-256, so a dead
# letter always fits a Kafka record however large the record it describes.
MAX_KEPT_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """Where a consumed record came from, and its raw bytes."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    time_us: int

    @classmethod
    def of(cls, message: Message) -> SourceRecord:
        """A consumed confluent-kafka record (its timestamp, in ms, as the time)."""
        topic = message.topic()
        assert topic is not None  # a consumed record always has its topic
        return cls(
            topic, message.partition(), message.offset(), message.key(), message.value(), message.timestamp()[1] * 1000
        )

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def coordinates(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record (confluent-kafka types them optional: a consumed record
    always has them)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


def dead_letter(
    stage: str, source: SourceRecord, reason: DeadLetterReason, detail: str, cause: str | None = None
) -> Emit:
    """The dead letter for one record. Its id is stable: derived from ``cause`` (an event id, for a record that
    never had a position of its own) or else from the source position, so a redelivered record gives the same."""
    key, key_note = _kept(source.key, "key")
    value, value_note = _kept(source.value, "value")
    notes = key_note + value_note
    detail = detail[: MAX_DETAIL - len(notes)] + notes
    basis = cause if cause is not None else source.position
    record: Record = {
        "meta": {
            "event_id": derived_event_id(basis, stage, 0),
            "producer": stage,
            "event_time_us": source.time_us,
            "ingest_time_us": source.time_us,
            "causation_id": cause,
            "correlation_id": basis,
        },
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
        "key": key,
        "value": value,
        "reason": reason,
        "detail": detail,
        "stage": stage,
    }
    return Emit(DEAD_LETTERS, source.topic, DEAD_LETTER_SCHEMA, record)


def _kept(data: bytes | None, what: str) -> tuple[bytes | None, str]:
    """The bytes to keep, or None and a note with their size and hash when they are too large."""
    if data is None or len(data) <= MAX_KEPT_BYTES:
        return data, ""
    return None, f" [{what} of {len(data)} bytes not kept; sha256 {hashlib.sha256(data).hexdigest()}]"
