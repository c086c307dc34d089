"""One consumed record through a pipeline, the same on every engine: check, decode, apply, or dead-letter.

Whatever a record holds, it ends in outputs or in a dead letter with the reason, and the worker goes on:

- OVERSIZED: larger than ``MAX_INPUT_BYTES`` (our largest events are a few kilobytes; a market snapshot of a
  thousand levels tens of them), refused before decoding;
- INVALID_RECORD: no value (a tombstone on an input);
- UNDECODABLE / UNKNOWN_SCHEMA: not Avro single-object encoding, or a writer schema nobody knows;
- UNEXPECTED_SCHEMA: a schema the topic does not carry (an OrderEvent on the commands topic);
- KEY_MISMATCH: on a keyed input, a record whose Kafka key is not its own partition key (``TopicSpec.key_field``):
  its state lives with another key, possibly in another worker's partition, so applying it would split one
  account's state in two. The producer must key it right; the record is kept with the reason;
- PROCESSING_ERROR: a core raised (a core bug must neither stop the pipeline nor lose the record).
"""

from __future__ import annotations

import logging
import traceback
from typing import Final

from processors.core import Emit, Event
from processors.runtime.dead_letters import SourceRecord, dead_letter
from processors.runtime.logs import CORRELATION_ID
from processors.runtime.pipeline import Pipeline
from schemas.codec import Codec, Decoded
from schemas.errors import SerializationError, UnknownSchemaError
from schemas.types import DeadLetterReason
from topics.catalogue import spec_for

log = logging.getLogger(__name__)

MAX_INPUT_BYTES: Final = 512 * 1024


class InputCheck:
    """What the catalogue says of one input topic of a pipeline, looked up once."""

    __slots__ = ("key_field", "logical", "schemas")

    def __init__(self, logical: str, keyed: bool) -> None:
        spec = spec_for(logical)
        self.logical = logical
        self.schemas = frozenset(spec.value_schemas)
        self.key_field = spec.key_field if keyed else None  # a broadcast input is read whole: any key is fine


def apply_record(pipeline: Pipeline, codec: Codec, check: InputCheck, source: SourceRecord) -> list[Emit]:
    """The pipeline's outputs for one record; a dead letter instead when it cannot be used."""
    event = _usable_event(pipeline.name, codec, check, source)
    if isinstance(event, Emit):
        CORRELATION_ID.set(None)
        return [event]
    CORRELATION_ID.set(event.record.get("meta", {}).get("correlation_id"))  # for the logs of whatever handles it
    try:
        return pipeline.apply(event)
    except Exception as error:  # a core bug must neither stop the pipeline nor lose the record
        log.exception("%s failed on %s", pipeline.name, source.position)
        detail = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"
        return [dead_letter(pipeline.name, source, "PROCESSING_ERROR", detail)]


def _usable_event(stage: str, codec: Codec, check: InputCheck, source: SourceRecord) -> Event | Emit:
    """The record as the event the pipeline takes, or the dead letter that says why it cannot be one."""
    value = source.value
    if value is None:
        return dead_letter(stage, source, "INVALID_RECORD", "a record without a value (tombstone) on an input")
    if len(value) > MAX_INPUT_BYTES:
        return dead_letter(stage, source, "OVERSIZED", f"{len(value)} bytes; inputs are limited to {MAX_INPUT_BYTES}")
    decoded = _decoded(codec, value)
    if not isinstance(decoded, Decoded):
        reason, detail = decoded
        return dead_letter(stage, source, reason, detail)
    if decoded.schema not in check.schemas:
        detail = f"{decoded.schema} on {check.logical}, which carries {', '.join(sorted(check.schemas))}"
        return dead_letter(stage, source, "UNEXPECTED_SCHEMA", detail)
    key = source.key.decode(errors="replace") if source.key is not None else None
    record = decoded.record
    if check.key_field is not None and key != record.get(check.key_field):
        detail = (
            f"key {key!r} is not the record's {check.key_field} {record.get(check.key_field)!r}: "
            "produce it with that key"
        )
        return dead_letter(stage, source, "KEY_MISMATCH", detail)
    return Event(check.logical, key, decoded.schema, record, source.time_us)


def _decoded(codec: Codec, value: bytes) -> Decoded | tuple[DeadLetterReason, str]:
    try:
        return codec.decode(value)
    except UnknownSchemaError as error:
        return "UNKNOWN_SCHEMA", str(error)
    except SerializationError as error:
        return "UNDECODABLE", str(error)
