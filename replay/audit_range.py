"""The range of `sq audit verify --from … --to …`: which commands and venue orders are checked. Pure.

A bound is ``BEGIN``/``END`` (open), an ISO 8601 broker time (UTC when it names no zone) or an offset
``TOPIC:PARTITION:OFFSET`` of one of the two checked topics, ``orders.commands`` or ``venue.orders`` (the
bound forms of `sq replay`, replay/window.py). ``--from`` is inclusive, ``--to`` exclusive.

Offsets are per partition, so an offset bound narrows the range to its partition: the records of that
partition from the ``--from`` offset up to the ``--to`` offset (both offsets name the same partition; a time
on the other side narrows it further). With a range of command offsets, the venue orders checked are the ones
those commands caused (their risk decision decided a command of the range); with a range of venue-order
offsets, no command is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from replay.window import WindowError, parse_bound
from topics.catalogue import ORDERS_COMMANDS, VENUE_ORDERS, spec_for

CHECKED_TOPICS = (ORDERS_COMMANDS, VENUE_ORDERS)


class RangeError(ValueError):
    """A range that cannot be checked; the message says why and what to give instead."""


@dataclass(frozen=True)
class AuditRange:
    begin_ms: int | None = None
    end_ms: int | None = None
    topic: str | None = None  # logical: the range is offsets of this topic's partition
    partition: int | None = None
    begin_offset: int | None = None
    end_offset: int | None = None

    def holds(self, topic: str, partition: int, offset: int, timestamp_ms: int) -> bool:
        """Whether a record of the logical ``topic`` is in the range (for a range of offsets of the other
        checked topic: never, see ``caused_by_commands``)."""
        if self.topic is not None:
            if (topic, partition) != (self.topic, self.partition):
                return False
            if self.begin_offset is not None and offset < self.begin_offset:
                return False
            if self.end_offset is not None and offset >= self.end_offset:
                return False
        return (self.begin_ms is None or timestamp_ms >= self.begin_ms) and (
            self.end_ms is None or timestamp_ms < self.end_ms
        )

    @property
    def caused_by_commands(self) -> bool:
        """Venue orders are checked by descent (from the commands of the range), not by position."""
        return self.topic == ORDERS_COMMANDS

    def as_json(self) -> dict[str, int | str | None]:
        return {
            "from_ms": self.begin_ms,
            "to_ms": self.end_ms,
            "topic": self.topic,
            "partition": self.partition,
            "from_offset": self.begin_offset,
            "to_offset": self.end_offset,
        }


WHOLE_LOG = AuditRange()


def parse_range(begin: str, end: str) -> AuditRange:
    """Both bounds; refused with what to give instead: a bound of another form, an offset of a topic that is
    not checked, two offsets of different partitions, and an inverted range."""
    try:
        first, last = parse_bound(begin, "--from"), parse_bound(end, "--to")
    except WindowError as error:
        raise RangeError(str(error)) from None
    if first.is_end or last.is_begin:
        raise RangeError("--from END or --to BEGIN: the range would be empty; give a time or an offset")
    for bound, option in ((first, "--from"), (last, "--to")):
        if bound.topic is not None and bound.topic not in CHECKED_TOPICS:
            raise RangeError(
                f"{option} {bound.text}: the commands and venue orders are what is checked; an offset range is "
                f"one of {', '.join(CHECKED_TOPICS)} (e.g. orders.commands:0:120), or give a time"
            )
        if bound.topic is not None and bound.partition is not None:
            partitions = spec_for(bound.topic).partitions
            if bound.partition >= partitions:
                raise RangeError(
                    f"{option} {bound.text}: {bound.topic} has partitions 0 to {partitions - 1}; give one of them"
                )
    if first.topic is not None and last.topic is not None:
        if (first.topic, first.partition) != (last.topic, last.partition):
            raise RangeError(
                f"--from {first.text} and --to {last.text} name different partitions: offsets are per partition, "
                f"give both in {first.topic}:{first.partition}, or give times to check every partition"
            )
        assert first.offset is not None and last.offset is not None
        if first.offset >= last.offset:
            raise RangeError(f"--from {first.text} is not before --to {last.text}: the range is inverted or empty")
    if first.time_ms is not None and last.time_ms is not None and first.time_ms >= last.time_ms:
        raise RangeError(f"--from {first.text} is not before --to {last.text}: the range is inverted or empty")
    offset_bound = first if first.topic is not None else last if last.topic is not None else None
    return AuditRange(
        begin_ms=first.time_ms,
        end_ms=last.time_ms,
        topic=offset_bound.topic if offset_bound else None,
        partition=offset_bound.partition if offset_bound else None,
        begin_offset=first.offset,
        end_offset=last.offset,
    )
