"""The window of `sq replay run|diff --from … --to …`: which of a stage's inputs, in the order the live stage
applied them (replay/order.py), a replay covers. Pure.

A bound is ``BEGIN``, ``END``, an ISO 8601 time (broker time; UTC when it names no zone) or an offset
``TOPIC:PARTITION:OFFSET`` (the logical topic name, an input of the stage). It resolves to a place in the
application order: a time to the first input the stage applied whose partition's broker time index puts it at
or after that time (``offsets_for_times``), an offset to the place of that record. ``--from`` is inclusive,
``--to`` exclusive.

The replay always starts at the beginning of the log: the state the live stage had at ``--from`` cannot be
rebuilt exactly from the changelogs (they are compacted: only the latest state per key is sure to survive,
and broadcast snapshots are only every few seconds). The window says which outputs are compared.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from replay.order import InputPosition

BEGIN = "BEGIN"
END = "END"


class WindowError(ValueError):
    """A window that cannot be replayed; the message says why and what to give instead."""


@dataclass(frozen=True)
class Bound:
    text: str  # as given, for messages
    time_ms: int | None = None
    topic: str | None = None  # logical
    partition: int | None = None
    offset: int | None = None

    @property
    def is_begin(self) -> bool:
        return self.text == BEGIN

    @property
    def is_end(self) -> bool:
        return self.text == END


def parse_bound(text: str, option: str) -> Bound:
    """``BEGIN``, ``END``, an ISO 8601 time or ``TOPIC:PARTITION:OFFSET``."""
    if text.upper() in (BEGIN, END):
        return Bound(text.upper())
    topic, _, rest = text.partition(":")
    partition, _, offset = rest.partition(":")
    if topic and "." in topic and partition.isdigit() and offset.isdigit():
        return Bound(text, topic=topic, partition=int(partition), offset=int(offset))
    if text.isdigit():
        raise WindowError(
            f"{option} {text}: an offset names its topic and partition, TOPIC:PARTITION:OFFSET "
            "(e.g. orders.commands:0:120); or give BEGIN, END or an ISO 8601 time"
        )
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WindowError(
            f"{option} {text!r}: give BEGIN, END, an ISO 8601 time (2026-12-04T11:00:00Z) "
            "or an offset TOPIC:PARTITION:OFFSET (e.g. orders.commands:0:120)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Bound(text, time_ms=int(moment.timestamp() * 1000))


@dataclass(frozen=True)
class Window:
    begin: Bound
    end: Bound

    def as_json(self) -> dict[str, str]:
        # The replay starts at BEGIN whatever --from says: only the comparison is windowed.
        return {"from": self.begin.text, "to": self.end.text, "replayed_from": BEGIN}

    @property
    def whole(self) -> bool:
        return self.begin.is_begin and self.end.is_end


def parse_window(begin: str, end: str) -> Window:
    """Both bounds, refusing what is wrong before anything is read: END as a start, BEGIN as an end, and an
    inverted pair of times or of offsets in one partition."""
    window = Window(parse_bound(begin, "--from"), parse_bound(end, "--to"))
    if window.begin.is_end:
        raise WindowError("--from END: the window would be empty; give BEGIN, a time or an offset")
    if window.end.is_begin:
        raise WindowError("--to BEGIN: the window would be empty; give END, a time or an offset")
    first, last = window.begin, window.end
    if first.time_ms is not None and last.time_ms is not None and first.time_ms >= last.time_ms:
        raise WindowError(f"--from {first.text} is not before --to {last.text}: the window is inverted or empty")
    same_partition = first.topic is not None and (first.topic, first.partition) == (last.topic, last.partition)
    if same_partition and first.offset is not None and last.offset is not None and first.offset >= last.offset:
        raise WindowError(f"--from {first.text} is not before --to {last.text}: the window is inverted or empty")
    return window


TimeOffsets = Mapping[tuple[str, int], int | None]  # (physical topic, partition) -> first offset at the time


@dataclass(frozen=True)
class Span:
    """A window resolved for one stage: places [start, stop) in its application order."""

    start: int
    stop: int


def resolve(
    window: Window,
    inputs: Sequence[InputPosition],
    order: Sequence[int],
    *,
    physical: Mapping[str, str],
    begin_offsets: TimeOffsets,
    end_offsets: TimeOffsets,
    stage: str,
) -> Span:
    """``physical``: logical name -> physical name of the stage's input topics; ``begin_offsets`` and
    ``end_offsets``: for a time bound, the broker's first offset at that time per input partition (None past
    its end)."""
    place = [0] * len(inputs)
    for rank, index in enumerate(order):
        place[index] = rank
    by_partition: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)  # -> [(offset, index)]
    for index, position in enumerate(inputs):
        by_partition[(position.topic, position.partition)].append((position.offset, index))
    for offsets in by_partition.values():
        offsets.sort()

    def at_time(offsets: TimeOffsets) -> int:
        """The first place of an input at or after the offsets the time index gave (len(order) if none)."""
        found = len(order)
        for where, first in offsets.items():
            held = by_partition.get(where, [])
            if first is None or not held:
                continue
            after = bisect.bisect_left(held, (first, -1))
            if after < len(held):
                found = min(found, place[held[after][1]])
        return found

    def at_offset(bound: Bound, option: str) -> int:
        assert bound.topic is not None and bound.partition is not None and bound.offset is not None
        name = physical.get(bound.topic)
        if name is None:
            raise WindowError(
                f"{option} {bound.text}: {bound.topic} is not an input of stage {stage} "
                f"(its inputs: {', '.join(sorted(physical))}); give one of them, or a time"
            )
        held = by_partition.get((name, bound.partition), [])
        found = bisect.bisect_left(held, (bound.offset, -1))
        if found == len(held) or held[found][0] != bound.offset:
            holds = f"it holds offsets {held[0][0]} to {held[-1][0]}" if held else "it holds no committed record"
            raise WindowError(
                f"{option} {bound.text}: no committed record there ({holds}); give an offset it holds, "
                f"or {'BEGIN' if option == '--from' else 'END'}"
            )
        return place[held[found][1]]

    def at(bound: Bound, option: str, offsets: TimeOffsets) -> int:
        if bound.is_begin:
            return 0
        if bound.is_end:
            return len(order)
        if bound.time_ms is not None:
            return at_time(offsets)
        return at_offset(bound, option)

    start = at(window.begin, "--from", begin_offsets)
    stop = at(window.end, "--to", end_offsets)
    if window.whole:
        return Span(start, stop)  # an empty log replays to nothing
    if start >= len(order):
        last = max((inputs[i].timestamp_ms for i in order), default=None)
        when = "the log holds none" if last is None else f"the last is at {_iso(last)}"
        raise WindowError(
            f"--from {window.begin.text} is past the end of stage {stage}'s inputs ({when}); "
            "give an earlier --from (BEGIN replays the whole log)"
        )
    if start >= stop:
        raise WindowError(
            f"--from {window.begin.text} is not before --to {window.end.text} in the order stage {stage} "
            "applied its inputs: the window is inverted or empty"
        )
    return Span(start, stop)


def _iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
