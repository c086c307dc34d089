"""In which order a live stage applied its input records, recovered from the log alone. Pure.

Kafka orders each partition, not the merge of a stage's inputs across partitions and topics, and the merge
matters (which of two accounts' orders reached the venue first made one the maker). The stage's outputs tell
it: a stage produces in the order it applies, so in each output partition the outputs' root causes (the input
records they descend from, through ``causation_id``) appear in application order. Together with each input
partition's own order these are the constraints; ``application_order`` is a topological order of them. An
input that caused no output (a reference price, a limits update, a kill switch with nothing to cancel) is
constrained only by its partition: among the inputs free to go next, the earliest broker time goes first
(the engine reads control events up to the broker's end before each batch, so an earlier control event was
applied first), then a fixed topic rank, partition and offset.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class InputPosition:
    rank: int  # the topic's place among the stage's inputs (a fixed tie-break)
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


@dataclass(frozen=True)
class Ordering:
    order: list[int]  # indices into the inputs, in application order
    forced: int  # constraints that contradicted each other and were broken (0 on a consistent log)


def application_order(inputs: Sequence[InputPosition], output_roots: Sequence[Sequence[int]]) -> Ordering:
    """``output_roots``: per output partition, the input index each output descends from, in offset order."""
    successors = _constraints(inputs, output_roots)
    indegree = [0] * len(inputs)
    for targets in successors.values():
        for target in targets:
            indegree[target] += 1

    def key(i: int) -> tuple[int, int, int, int, int]:
        position = inputs[i]
        return (position.timestamp_ms, position.rank, position.partition, position.offset, i)

    ready = [key(i) for i in range(len(inputs)) if indegree[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    placed = [False] * len(inputs)
    forced = 0
    while len(order) < len(inputs):
        if not ready:  # a cycle: contradictory constraints; take the earliest input left and say so
            forced += 1
            index = min((i for i in range(len(inputs)) if not placed[i]), key=key)
            indegree[index] = 0
            heapq.heappush(ready, key(index))
        index = heapq.heappop(ready)[-1]
        if placed[index]:
            continue
        placed[index] = True
        order.append(index)
        for target in successors.pop(index, ()):
            indegree[target] -= 1
            if indegree[target] == 0 and not placed[target]:
                heapq.heappush(ready, key(target))
    return Ordering(order, forced)


def _constraints(inputs: Sequence[InputPosition], output_roots: Sequence[Sequence[int]]) -> dict[int, set[int]]:
    """input index -> the inputs that must come after it (its partition's next; the next root of an output)."""
    successors: dict[int, set[int]] = defaultdict(set)
    by_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, position in enumerate(inputs):
        by_partition[(position.topic, position.partition)].append(index)
    for indices in by_partition.values():
        indices.sort(key=lambda i: inputs[i].offset)
        for before, after in itertools.pairwise(indices):
            successors[before].add(after)
    for roots in output_roots:
        distinct = list(dict.fromkeys(roots))  # each root at its first appearance
        for before, after in itertools.pairwise(distinct):
            successors[before].add(after)
    return successors
