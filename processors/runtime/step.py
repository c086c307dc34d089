"""One consumed record through a core, the same on every engine: decode, apply, or dead-letter."""

from __future__ import annotations

import logging
import traceback

from processors.core import Core, Emit, Event
from processors.runtime.dead_letters import SourceRecord, dead_letter
from schemas.codec import Codec
from schemas.errors import SerializationError

log = logging.getLogger(__name__)


def apply_record(core: Core, codec: Codec, logical_topic: str, source: SourceRecord) -> list[Emit]:
    """The core's outputs for one record; a dead letter instead when it cannot be decoded or applied."""
    key = source.key.decode() if source.key is not None else None
    if source.value is None:
        return [dead_letter(core.name, source, "INVALID_RECORD", "a record without a value (tombstone) on an input")]
    try:
        decoded = codec.decode(source.value)
    except SerializationError as error:
        return [dead_letter(core.name, source, "UNDECODABLE", str(error))]
    event = Event(logical_topic, key, decoded.schema, decoded.record, source.time_us)
    try:
        return core.apply(event)
    except Exception as error:  # a core bug must neither stop the pipeline nor lose the record
        log.exception("%s failed on %s", core.name, source)
        return [
            dead_letter(
                core.name,
                source,
                "PROCESSING_ERROR",
                f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}",
            )
        ]
