"""The window of `sq replay run|diff --from --to` (replay/window.py): parsing and resolving in the application
order."""

from __future__ import annotations

import pytest

from replay.order import InputPosition
from replay.window import Span, TimeOffsets, Window, WindowError, parse_bound, parse_window, resolve

COMMANDS = "p.orders.commands"
CONTROL = "p.control.kill_switches"
PHYSICAL = {"orders.commands": COMMANDS, "control.kill_switches": CONTROL}

# Two partitions of commands and one control partition; the live stage applied them in ORDER.
INPUTS = [
    InputPosition(0, COMMANDS, 0, 0, 1_000),  # 0
    InputPosition(0, COMMANDS, 0, 1, 3_000),  # 1
    InputPosition(0, COMMANDS, 1, 0, 2_000),  # 2
    InputPosition(0, COMMANDS, 1, 2, 4_000),  # 3 (offset 1 was an aborted record)
    InputPosition(1, CONTROL, 0, 0, 2_500),  # 4
]
ORDER = [0, 2, 4, 1, 3]


def _resolve(window: Window, begin: TimeOffsets | None = None, end: TimeOffsets | None = None) -> Span:
    return resolve(
        window, INPUTS, ORDER, physical=PHYSICAL, begin_offsets=begin or {}, end_offsets=end or {}, stage="orderpath"
    )


def test_bounds_parse_as_begin_end_times_and_offsets() -> None:
    assert parse_bound("begin", "--from").is_begin and parse_bound("END", "--to").is_end
    assert parse_bound("1970-01-01T00:00:02Z", "--from").time_ms == 2_000
    assert parse_bound("1970-01-01T01:00:00+01:00", "--from").time_ms == 0
    assert parse_bound("1970-01-01T00:00:01.5", "--from").time_ms == 1_500  # UTC when it names no zone
    offset = parse_bound("orders.commands:1:2", "--to")
    assert (offset.topic, offset.partition, offset.offset) == ("orders.commands", 1, 2)


@pytest.mark.parametrize(
    ("begin", "end", "message"),
    [
        ("120", "END", "an offset names its topic and partition, TOPIC:PARTITION:OFFSET"),
        ("yesterday", "END", "give BEGIN, END, an ISO 8601 time"),
        ("END", "END", "--from END: the window would be empty"),
        ("BEGIN", "BEGIN", "--to BEGIN: the window would be empty"),
        ("2026-12-04T12:00:00Z", "2026-12-04T11:00:00Z", "is not before --to 2026-12-04T11:00:00Z"),
        ("orders.commands:0:5", "orders.commands:0:5", "the window is inverted or empty"),
    ],
)
def test_a_bad_or_inverted_window_is_refused_before_reading_with_what_to_give(
    begin: str, end: str, message: str
) -> None:
    with pytest.raises(WindowError, match=message):
        parse_window(begin, end)


def test_the_whole_log_is_every_place() -> None:
    assert _resolve(parse_window("BEGIN", "END")) == Span(0, 5)


def test_an_offset_is_the_place_the_live_stage_applied_that_record() -> None:
    assert _resolve(parse_window("control.kill_switches:0:0", "orders.commands:1:2")) == Span(2, 4)


def test_a_time_is_the_first_place_of_a_record_the_time_index_puts_at_or_after_it() -> None:
    # At 2,500 ms the broker's index gives offset 1 of commands/0, offset 1 (aborted) of commands/1, and control 0.
    at = {(COMMANDS, 0): 1, (COMMANDS, 1): 1, (CONTROL, 0): 0}
    assert _resolve(parse_window("1970-01-01T00:00:02.5Z", "END"), begin=at) == Span(2, 5)
    past = {(COMMANDS, 0): None, (COMMANDS, 1): None, (CONTROL, 0): None}  # a --to past the end: to the end
    assert _resolve(parse_window("BEGIN", "1970-01-01T01:00:00Z"), end=past) == Span(0, 5)


def test_a_window_past_the_end_inverted_in_the_order_or_at_an_offset_not_held_is_refused() -> None:
    past = {(COMMANDS, 0): None, (COMMANDS, 1): None, (CONTROL, 0): None}
    with pytest.raises(
        WindowError, match=r"past the end of stage orderpath's inputs \(the last is at 1970-01-01T00:00:04.000Z\)"
    ):
        _resolve(parse_window("1970-01-01T01:00:00Z", "END"), begin=past)
    with pytest.raises(WindowError, match=r"is not before --to orders\.commands:1:0 in the order stage orderpath"):
        _resolve(parse_window("orders.commands:0:1", "orders.commands:1:0"))
    with pytest.raises(WindowError, match=r"no committed record there \(it holds offsets 0 to 2\)"):
        _resolve(parse_window("orders.commands:1:1", "END"))
    with pytest.raises(WindowError, match=r"orders\.amends is not an input of stage orderpath"):
        _resolve(parse_window("orders.amends:0:0", "END"))
