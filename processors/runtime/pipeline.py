"""Cores composed in process: the one way several cores run together, on every engine.

A pipeline wires cores by the topics they declare. An output of one core that another core of the pipeline
takes is handed to it directly, in causal order (breadth first: every output of an event before the
outputs those cause), and it stays an output: the engine still produces it to its topic, so the log is the
complete audit trail and every other reader sees what it would see if each core were its own hop.

Which topics are handed in process follows from the catalogue (``TopicSpec.written_by``): a topic is
*internal* when a core of the pipeline takes it and every one of its writers is a core of the pipeline.
A topic somebody else writes too (the API's kill switches on ``control.events``, which risk also writes) is
read from Kafka like any input, and what the pipeline's own cores write to it comes back that way.

Pure: no Kafka, no clock. The engines (memory, kafka) feed it decoded input events and take its outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from processors.core import Core, Emit, Event
from processors.runtime.dead_letters import SourceRecord, dead_letter
from schemas.codec import Codec
from topics.catalogue import spec_for


@dataclass(frozen=True)
class StageSpec:
    """A deployable unit: the cores one worker process runs as one pipeline.

    ``exclusive``: one active worker owns every partition of the stage's inputs (its cores keep state under
    different keys, e.g. accounts and symbols, so the inputs cannot be split by partition); more workers of
    the stage stand by and take over when the active one dies.
    """

    name: str
    cores: tuple[str, ...]
    exclusive: bool = False


# The router follows the OMS: it works the parents the OMS accepts, and its child orders go back to risk in
# process (orders.child_commands), so neither a parent's children nor a direct order take an extra hop.
ORDER_PATH = ("risk", "oms", "router", "venue", "portfolio")

STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec("orderpath", ORDER_PATH, exclusive=True),
        StageSpec("account", ("risk", "oms", "router", "portfolio")),
        *(StageSpec(name, (name,)) for name in (*ORDER_PATH, "orderbook")),
    )
}

# How the order path is deployed (docs/TOPOLOGIES.md): the stages each topology runs.
TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "single": ("orderpath",),  # one process, one transactional hop from command to ACCEPTED
    "split": ("account", "venue"),  # scale-out: the account stage by account, the venue stage by symbol
    "cores": ORDER_PATH,  # a hop per core: each core its own consumer group
}
DEFAULT_TOPOLOGY = "single"
MARKET_DATA_STAGES = ("orderbook",)  # run beside the order path in every topology


def stage_spec(name: str) -> StageSpec:
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGES)}") from None


def topology_stages(topology: str) -> tuple[str, ...]:
    try:
        return TOPOLOGIES[topology]
    except KeyError:
        raise ValueError(f"unknown topology {topology!r}; known: {', '.join(TOPOLOGIES)}") from None


def stage_of(core: str, topology: str) -> str:
    """The stage of ``topology`` that runs ``core``."""
    for stage in topology_stages(topology):
        if core in STAGES[stage].cores:
            return stage
    raise ValueError(f"no stage of the {topology} topology runs {core!r}")


def _unique(topics: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(topics))


class Pipeline:
    """Cores wired by their declared topics (see the module docstring)."""

    def __init__(self, cores: Sequence[Core], name: str | None = None, roundtrip: Codec | None = None) -> None:
        """``roundtrip``: encode and decode every record handed in process, so a core gets exactly what a Kafka
        hop would give it (tests use it to prove the in-process hand-off changes nothing)."""
        if not cores:
            raise ValueError("a pipeline needs at least one core")
        self.cores = tuple(cores)
        self.name = name or "+".join(core.name for core in cores)
        names = {core.name for core in cores}
        produced = {topic for core in cores for topic in core.outputs}
        taken = {topic for core in cores for topic in (*core.inputs, *core.broadcast_inputs)}
        self.internal = frozenset(topic for topic in produced & taken if set(spec_for(topic).written_by) <= names)
        # Read from Kafka: the keyed inputs (one consumer group, co-partitioned) and the broadcast inputs.
        self.inputs = _unique(topic for core in cores for topic in core.inputs if topic not in self.internal)
        self.broadcast_inputs = _unique(
            topic
            for core in cores
            for topic in core.broadcast_inputs
            if topic not in self.internal and topic not in self.inputs
        )
        self.barrier_inputs = _unique(
            topic for core in cores for topic in getattr(core, "barrier_inputs", ()) if topic in self.broadcast_inputs
        )
        self.outputs = _unique(topic for core in cores for topic in core.outputs)
        self._routes: dict[str, tuple[Core, ...]] = {
            topic: tuple(core for core in cores if topic in core.inputs or topic in core.broadcast_inputs)
            for topic in (*self.inputs, *self.broadcast_inputs, *self.internal)
        }
        self._single = self.cores[0] if len(self.cores) == 1 else None
        self._roundtrip = roundtrip

    def takes(self, topic: str) -> bool:
        """Whether the pipeline reads ``topic`` from Kafka (keyed or broadcast)."""
        return topic in self._routes and topic not in self.internal

    def apply(self, event: Event) -> list[Emit]:
        """Every output ``event`` causes in the pipeline, in causal order. An exception of the first core to take
        ``event`` propagates (the engine dead-letters the record it decoded); a core failing on a record handed
        to it in process gets that record dead-lettered, as a hop of its own would, and the rest goes on."""
        single = self._single
        if single is not None:
            return single.apply(event)
        out: list[Emit] = []
        for core in self._routes.get(event.topic, ()):
            out += core.apply(event)
        internal, routes = self.internal, self._routes
        index = 0
        while index < len(out):
            emit = out[index]
            index += 1
            if emit.topic not in internal:
                continue
            record = emit.record
            if self._roundtrip is not None:
                record = self._roundtrip.decode(self._roundtrip.encode(emit.schema, record)).record
            handed = Event(emit.topic, emit.key, emit.schema, record, event.ingest_time_us)
            for core in routes[emit.topic]:
                try:
                    out += core.apply(handed)
                except Exception as error:  # a core bug must neither stop the pipeline nor lose the record
                    out.append(_handed_dead_letter(core, handed, error))
        return out


def _handed_dead_letter(core: Core, event: Event, error: Exception) -> Emit:
    key = event.key.encode() if event.key is not None else None
    event_id = event.record.get("meta", {}).get("event_id")
    source = SourceRecord(event.topic, None, None, key, None, event.ingest_time_us)
    detail = f"{type(error).__name__}: {error} (handed in process: event {event_id})"
    return dead_letter(core.name, source, "PROCESSING_ERROR", detail, cause=str(event_id))
