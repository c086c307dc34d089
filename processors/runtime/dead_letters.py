"""Dead letters: a record no stage could use goes to ``ops.deadletters`` with its bytes and the reason."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Message

from processors.core import Emit, Record, derived_event_id
from topics.catalogue import DEAD_LETTERS

DEAD_LETTER_SCHEMA = "shrivenquant.ops.DeadLetter"
MAX_DETAIL = 4000


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


def dead_letter(stage: str, source: SourceRecord, reason: str, detail: str) -> Emit:
    """The dead letter for one consumed record; its id is stable for the same source position."""
    position = f"{source.topic}/{source.partition}/{source.offset}"
    record: Record = {
        "meta": {
            "event_id": derived_event_id(position, stage, 0),
            "producer": stage,
            "event_time_us": source.time_us,
            "ingest_time_us": source.time_us,
            "causation_id": None,
            "correlation_id": position,
        },
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
        "key": source.key,
        "value": source.value,
        "reason": reason,
        "detail": detail[:MAX_DETAIL],
        "stage": stage,
    }
    return Emit(DEAD_LETTERS, source.topic, DEAD_LETTER_SCHEMA, record)
