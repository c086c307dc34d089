"""The contract between a pure core and the runtime that runs it.

A core is plain Python: no Kafka, no asyncio, no clock and no random ids of its own. The runtime hands it
one ``Event`` at a time and produces the ``Emit``s it returns; time and identity come in with the events
(``Event.ingest_time_us`` is the Kafka record timestamp, so a replay sees the same times). State is a
mapping from the partition key (account or symbol) to a JSON-able dict, so the runtime can write what
changed to a changelog in the same transaction as the outputs, and rebuild it on restart. What a core derives
from its broadcast inputs (kill switches, marks, market books) is not keyed state: the runtime snapshots it
(``broadcast_state``) with the broadcast positions it reflects.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, Final, NamedTuple, Protocol

Record = dict[str, Any]
StateChanges = dict[str, Record | None]  # key → its new state, None when the key's state is gone

# A state key is the record key it belongs to (an account, a symbol) or "<record key>|<sub key>": a core
# whose state per record key grows (an account's orders) writes one changelog record per sub key, so a
# change rewrites one order, not the whole account. The runtime routes a sub key to its record key's partition.
STATE_SUBKEY_SEPARATOR = "|"


def state_key(record_key: str, sub_key: str) -> str:
    """The state key of one sub key's record (an order of an account): ``"<record key>|<sub key>"``."""
    return f"{record_key}{STATE_SUBKEY_SEPARATOR}{sub_key}"


def split_state_key(key: str) -> tuple[str, str | None]:
    """(record key, sub key) of a state key; sub key None for a key that is a record key alone."""
    record_key, separator, sub_key = key.partition(STATE_SUBKEY_SEPARATOR)
    return record_key, sub_key if separator else None


_ID_NAMESPACE = uuid.UUID("5b0c8a47-7d0e-4f5e-9a51-3f4e1c9d2a10")
# sha1 over the namespace bytes, copied for each id: the namespace prefix is hashed once, not per id.
_ID_PREFIX: Final = hashlib.sha1(_ID_NAMESPACE.bytes)
# The RFC 4122 variant (0b10xx) of the 17th hex digit: 8, 9, a or b, keeping its low two bits.
_VARIANT_DIGIT: Final = {digit: "89ab"[int(digit, 16) & 0b11] for digit in "0123456789abcdef"}


# Event and Emit are NamedTuples, not frozen dataclasses: as immutable, and built in half the time (a frozen
# dataclass sets each field through object.__setattr__), which counts at several per order on the hot path.
class Event(NamedTuple):
    """One input record, decoded, as the runtime hands it to a core."""

    topic: str  # logical topic name (topics.catalogue)
    key: str | None
    schema: str  # Avro full name the record was decoded with
    record: Mapping[str, Any]
    ingest_time_us: int  # the Kafka record timestamp: deterministic in replay


class Emit(NamedTuple):
    """One output record: where it goes and what it is."""

    topic: str
    key: str
    schema: str
    record: Record


class Core(Protocol):
    """What every processor's pure core provides."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]  # consumed as one consumer group, co-partitioned by key
    broadcast_inputs: ClassVar[tuple[str, ...]]  # read whole by every worker (control, reference data)
    # Optional: broadcast inputs the kafka engine reads up to the broker's end before each batch, so a
    # control event the broker acknowledged before a command was consumed acts on that command.
    outputs: ClassVar[tuple[str, ...]]

    def apply(self, event: Event) -> list[Emit]: ...

    def state_changes(self) -> StateChanges:
        """The state of every key changed since the last call (then forgets them)."""
        ...

    def restore(self, key: str, state: Record) -> None:
        """Take back one key's state from the changelog, before any event is applied."""
        ...

    def broadcast_state(self) -> Record:
        """Everything the core derived from its broadcast inputs, JSON-able (``{}`` when it has none).

        The runtime snapshots it with the broadcast positions it reflects, so a restart reads the snapshot
        and the tail after those positions, never the broadcast history from the beginning.
        """
        ...

    def restore_broadcast(self, state: Record) -> None:
        """Take back a ``broadcast_state`` snapshot into a fresh core, before any event is applied."""
        ...


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, spelled out with hashlib: the hot path makes several per order and
    ``uuid.UUID`` costs microseconds each. The first 16 bytes of the sha1, with the version nibble set to 5 and
    the variant bits to 0b10.
    """
    sha1 = _ID_PREFIX.copy()
    sha1.update(name.encode())
    h = sha1.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


def derived_event_id(cause_event_id: str, stage: str, index: int) -> str:
    """A stable id for the index-th event a stage derives from a cause: the same in live, replay and backtest.

    It is ``uuid.uuid5(namespace, "<cause>|<stage>|<index>")``: ``_uuid5`` inlined, as every output makes one.
    """
    sha1 = _ID_PREFIX.copy()
    sha1.update(f"{cause_event_id}|{stage}|{index}".encode())
    h = sha1.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


def derived_meta(cause: Event, stage: str, index: int) -> Record:
    """The meta of an event derived from ``cause``: new id, same business time, causation and correlation."""
    meta = cause.record["meta"]
    return {
        "event_id": derived_event_id(meta["event_id"], stage, index),
        "producer": stage,
        "event_time_us": meta["event_time_us"],
        "ingest_time_us": cause.ingest_time_us,
        "causation_id": meta["event_id"],
        "correlation_id": meta["correlation_id"],
    }


def order_id_for(account: str, client_order_id: str) -> str:
    """The order id of a client order id: deterministic, so a resubmitted command names the same order."""
    return _uuid5(f"order|{account}|{client_order_id}")  # uuid.uuid5(namespace, "order|<account>|<client id>")
