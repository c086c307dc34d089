"""The audit story's pure parts: causal order (a record after its cause, whatever the broker times say), the
index's refs, and JSON of decoded unions."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.audit.index import refs_of
from connectors.audit.story import StoryRecord, causal_order, jsonable, story_lines
from topics.catalogue import ORDERS_COMMANDS, ORDERS_EVENTS, PORTFOLIO_POSITIONS, RISK_DECISIONS


def _record(topic: str, event_id: str, cause: str | None, time_ms: int, offset: int) -> StoryRecord:
    record: dict[str, Any] = {"meta": {"event_id": event_id, "causation_id": cause, "producer": "t"}}
    return StoryRecord(topic, topic, 0, offset, time_ms, "x.Y", record)


@given(st.permutations(range(5)), st.lists(st.integers(0, 3), min_size=5, max_size=5))
def test_every_record_comes_after_its_cause_whatever_the_input_order_and_times(
    order: list[int], times: list[int]
) -> None:
    chain = [
        _record(ORDERS_COMMANDS, "c", None, times[0], 0),
        _record(RISK_DECISIONS, "d", "c", times[1], 0),
        _record(ORDERS_EVENTS, "e1", "d", times[2], 0),
        _record(ORDERS_EVENTS, "e2", "d", times[3], 1),
        _record(PORTFOLIO_POSITIONS, "p", "e2", times[4], 0),
    ]
    ordered = [r.record["meta"]["event_id"] for r in causal_order([chain[i] for i in order])]
    assert sorted(ordered) == ["c", "d", "e1", "e2", "p"]
    for effect, cause in (("d", "c"), ("e1", "d"), ("e2", "d"), ("p", "e2")):
        assert ordered.index(cause) < ordered.index(effect)


def test_records_without_a_cause_in_the_story_go_by_time_then_stage() -> None:
    late_command = _record(ORDERS_COMMANDS, "amend", None, 9, 5)
    first = _record(ORDERS_COMMANDS, "new", None, 1, 1)
    kill_cancel = _record(RISK_DECISIONS, "kill", "outside", 9, 7)
    ordered = [r.record["meta"]["event_id"] for r in causal_order([kill_cancel, late_command, first])]
    assert ordered == ["new", "amend", "kill"]


def test_positions_are_indexed_under_their_cause_and_the_rest_under_the_order_and_its_parent() -> None:
    position = {"meta": {"causation_id": "event-1"}, "account": "A"}
    assert refs_of(PORTFOLIO_POSITIONS, position) == ("event-1", None)
    assert refs_of(ORDERS_EVENTS, {"order_id": "o", "parent_order_id": "p"}) == ("o", "p")
    assert refs_of(RISK_DECISIONS, {"order_id": "o"}) == ("o", None)


def test_a_union_becomes_the_record_with_its_schema_and_a_line_keeps_its_place() -> None:
    assert jsonable({"command": ("a.NewOrder", {"q": 1}), "l": (1, 2)}) == {
        "command": {"schema": "a.NewOrder", "q": 1},
        "l": [1, 2],
    }
    (line,) = story_lines([_record("other.topic", "x", None, 2, 42)])
    assert (line["offset"], line["timestamp_us"], line["kind"], line["summary"]) == (42, 2000, "other.topic", "Y")
