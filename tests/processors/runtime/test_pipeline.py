"""Cores composed in process (processors.runtime.pipeline) and the memory engine that runs them."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.order_flow import FlowConfig
from processors.core import Emit, Event, Record, StateChanges
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import STAGES, TOPOLOGIES, Pipeline, stage_spec
from processors.runtime.registry import core_class, new_core
from schemas.codec import Codec, default_codec
from tests.kit.flows import flow_events
from topics.catalogue import (
    CLOCK_TICKS,
    CONTROL_EVENTS,
    DEAD_LETTERS,
    MD_ANALYTICS,
    MD_BOOK_TOP,
    MD_DEPTH,
    MD_TRADES,
    ORDERS_CHILD_COMMANDS,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_DECISIONS,
    RISK_LIMITS,
    VENUE_EXECUTIONS,
    VENUE_ORDERS,
)


def _pipeline(stage: str) -> Pipeline:
    return Pipeline([new_core(name) for name in stage_spec(stage).cores], stage)


def _engine(stage: str, codec: Codec | None = None, checkpoint_every: int | None = None) -> MemoryEngine:
    factories = [core_class(name) for name in stage_spec(stage).cores]
    return MemoryEngine(factories, name=stage, codec=codec, checkpoint_every=checkpoint_every)


FLOW = flow_events(FlowConfig(orders=300, seed=5, accounts=3))


def test_the_single_stage_reads_commands_and_limits_and_hands_the_rest_in_process() -> None:
    pipeline = _pipeline("orderpath")
    assert pipeline.inputs == (ORDERS_COMMANDS, RISK_LIMITS)
    assert set(pipeline.broadcast_inputs) == {
        CONTROL_EVENTS,
        MD_TRADES,
        MD_DEPTH,
        CLOCK_TICKS,
        MD_BOOK_TOP,
        MD_ANALYTICS,
    }
    assert pipeline.internal == {RISK_DECISIONS, ORDERS_EVENTS, VENUE_ORDERS, VENUE_EXECUTIONS, ORDERS_CHILD_COMMANDS}
    assert pipeline.barrier_inputs == (CONTROL_EVENTS,)
    # control.events has writers outside the pipeline (the API's kill switches): always read from Kafka
    assert pipeline.takes(CONTROL_EVENTS) and not pipeline.takes(VENUE_ORDERS)


def test_the_account_stage_reads_the_venue_s_executions_from_kafka() -> None:
    pipeline = _pipeline("account")
    assert pipeline.inputs == (ORDERS_COMMANDS, RISK_LIMITS, VENUE_EXECUTIONS)
    assert RISK_DECISIONS in pipeline.internal and ORDERS_EVENTS in pipeline.internal
    assert ORDERS_CHILD_COMMANDS in pipeline.internal  # a parent's children take no extra hop
    assert VENUE_ORDERS not in pipeline.internal  # the venue stage reads it


def test_a_core_alone_hands_nothing_in_process() -> None:
    for name in TOPOLOGIES["cores"]:
        pipeline = _pipeline(name)
        assert not pipeline.internal
        assert pipeline.inputs == core_class(name).inputs


def test_every_topology_runs_every_order_path_core_once() -> None:
    for stages in TOPOLOGIES.values():
        cores = Counter(core for stage in stages for core in STAGES[stage].cores)
        assert cores == Counter({"risk": 1, "oms": 1, "router": 1, "venue": 1, "portfolio": 1})


def test_a_crossing_pair_is_decided_accepted_filled_and_booked_within_one_input_each() -> None:
    engine = _engine("orderpath")
    events = FLOW[:3]  # the three accounts' limits
    for event in events:
        engine.send(event)
    flow_commands = [event for event in FLOW[3:] if event.schema.endswith("NewOrder")][:40]
    for command in flow_commands:
        emits = engine.send(command)
        topics = [emit.topic for emit in emits]
        assert topics[0] == RISK_DECISIONS  # causal order: the decision first, then what it caused
        decision = emits[0].record
        if decision["approved"]:
            types = [e.record["event_type"] for e in emits if e.topic == ORDERS_EVENTS]
            assert types[0] == "PENDING_NEW"
            assert VENUE_ORDERS in topics and VENUE_EXECUTIONS in topics
    fills = [r for r in engine.records(ORDERS_EVENTS) if r["event_type"] in {"PARTIALLY_FILLED", "FILLED"}]
    assert fills, "the flow's crossing orders filled"
    assert len(engine.records(PORTFOLIO_POSITIONS)) >= len(fills)


def _without_ingest(emits: list[Emit]) -> list[tuple[str, str, Record]]:
    return [(e.topic, e.key, {**e.record, "meta": {**e.record["meta"], "ingest_time_us": 0}}) for e in emits]


def _all_outputs(engine: MemoryEngine) -> list[Emit]:
    return [emit for topic in sorted(engine.outputs) for emit in engine.outputs[topic]]


def test_handing_records_in_process_gives_what_a_kafka_hop_would() -> None:
    direct = _engine("orderpath").run(FLOW)
    through_bytes = _engine("orderpath", codec=default_codec()).run(FLOW)
    assert _all_outputs(direct) == _all_outputs(through_bytes)
    assert not direct.outputs.get(DEAD_LETTERS)


def test_the_stages_of_split_compose_to_the_single_stage() -> None:
    """The account and venue stages, handed each other's topics in the same causal order, write what the
    single stage writes: the cores do not know how they are deployed."""
    single = _engine("orderpath").run(FLOW)
    account, venue = _engine("account"), _engine("venue")
    combined: list[Emit] = []

    def send(event: Event) -> None:
        pending = [event]
        while pending:
            current = pending.pop(0)
            engine = venue if current.topic == VENUE_ORDERS else account
            for emit in engine.send(current):
                combined.append(emit)
                if emit.topic in (VENUE_ORDERS, VENUE_EXECUTIONS):
                    pending.append(Event(emit.topic, emit.key, emit.schema, emit.record, event.ingest_time_us))

    for event in FLOW:
        send(event)
    by_topic = {topic: [e for e in combined if e.topic == topic] for topic in single.outputs}
    for topic, emits in single.outputs.items():
        assert Counter(map(repr, _without_ingest(by_topic[topic]))) == Counter(map(repr, _without_ingest(emits))), topic


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=len(FLOW) - 1), st.integers(min_value=1, max_value=50))
def test_a_restart_from_a_checkpoint_continues_exactly_as_the_live_run(cut: int, every: int) -> None:
    live = _engine("orderpath").run(FLOW)
    engine = _engine("orderpath", checkpoint_every=every).run(FLOW[:cut])
    engine.checkpoint()
    restarted = engine.restarted().run(FLOW[cut:])
    assert _all_outputs(restarted) == _all_outputs(live)


class _Failing:
    name: ClassVar[str] = "failing"
    inputs: ClassVar[tuple[str, ...]] = (RISK_DECISIONS,)
    broadcast_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()

    def apply(self, event: Event) -> list[Emit]:
        raise RuntimeError("a bug")

    def state_changes(self) -> StateChanges:
        return {}

    def restore(self, key: str, state: Record) -> None:
        return None

    def broadcast_state(self) -> Record:
        return {}

    def restore_broadcast(self, state: Record) -> None:
        return None


def test_a_core_failing_on_a_handed_record_dead_letters_it_and_the_others_go_on() -> None:
    risk = new_core("risk")
    pipeline = Pipeline([risk, _Failing(), new_core("oms")])
    assert RISK_DECISIONS in pipeline.internal
    emits: list[Emit] = []
    for event in FLOW[:10]:
        emits += pipeline.apply(event)
    decisions = [e for e in emits if e.topic == RISK_DECISIONS]
    letters = [e.record for e in emits if e.topic == DEAD_LETTERS]
    assert decisions and len(letters) == len(decisions)
    assert {letter["stage"] for letter in letters} == {"failing"}
    assert all(d.record["meta"]["event_id"] in letter["detail"] for d, letter in zip(decisions, letters, strict=True))
    assert len({letter["meta"]["event_id"] for letter in letters}) == len(letters)  # stable, distinct ids
    assert any(e.topic == ORDERS_EVENTS for e in emits)  # the OMS still got every decision


def test_an_engine_that_keeps_no_outputs_returns_the_same_ones() -> None:
    factories = [core_class(name) for name in stage_spec("orderpath").cores]
    keeping, returning = MemoryEngine(factories), MemoryEngine(factories, keep_outputs=False)
    returned = [emit for event in FLOW for emit in returning.send(event)]
    kept = [emit for event in FLOW for emit in keeping.send(event)]
    assert returned == kept and returned
    assert returning.outputs == {} and sum(map(len, keeping.outputs.values())) == len(kept)
