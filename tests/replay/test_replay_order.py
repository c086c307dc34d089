"""Recovering a live stage's application order from the log (replay/order.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replay.order import InputPosition, application_order


def _inputs(*spec: tuple[str, int, int]) -> list[InputPosition]:
    return [InputPosition(0, topic, 0, offset, time_ms) for topic, offset, time_ms in spec]


def test_output_partitions_order_inputs_of_different_topics_against_their_broker_times() -> None:
    inputs = _inputs(("a", 0, 5), ("b", 0, 1))
    # The live stage applied a's record first: an output partition shows its output before b's.
    assert application_order(inputs, [[0, 1]]).order == [0, 1]
    # Without outputs to tell, the earlier broker time goes first.
    assert application_order(inputs, []).order == [1, 0]


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9)), min_size=1, max_size=30))
def test_the_order_respects_every_output_partition_and_keeps_each_input_partition_in_offset_order(
    draws: list[tuple[str, int]],
) -> None:
    offsets: dict[str, int] = {}
    inputs = []
    for topic, time_ms in draws:
        offsets[topic] = offsets.get(topic, -1) + 1
        inputs.append(InputPosition(0, topic, 0, offsets[topic], time_ms))
    truth = list(range(len(inputs)))  # the order the draws came in: each partition in offset order
    # Every input caused an output, spread over two output partitions in application order.
    outputs = [[i for i in truth if i % 2 == 0], [i for i in truth if i % 2 == 1]]
    ordering = application_order(inputs, outputs)
    assert ordering.forced == 0 and sorted(ordering.order) == truth
    for part in outputs:
        assert [i for i in ordering.order if i in set(part)] == part
    for topic in offsets:
        placed = [inputs[i].offset for i in ordering.order if inputs[i].topic == topic]
        assert placed == sorted(placed)


def test_contradicting_outputs_are_broken_and_counted() -> None:
    inputs = _inputs(("a", 0, 1), ("b", 0, 2))
    ordering = application_order(inputs, [[0, 1], [1, 0]])
    assert sorted(ordering.order) == [0, 1] and ordering.forced == 1
