"""One seeded flow through the `single` and `split` topologies and the memory engine: the same order events,
executions and positions (ingest times aside).

Cores do not know how they are deployed. What differs between deployments is only timing: in `split` a fill
comes back to the account stage a hop later, so a command sent right after could meet an order in another
state. The flow is therefore sent in lockstep: each command once the pipeline has consumed everything
before it (every stage's group committed to the end of its inputs), which makes the outcome a function of
the flow alone, and equal in every deployment.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from connectors.order_flow import FlowConfig, OrderFlow
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import topology_stages
from processors.runtime.registry import stage_factories
from processors.runtime.supervisor import Supervisor
from settings import Settings
from tests.kit.flows import command_event
from tests.kit.running import IdleGauge, send_limits, wait_for
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE, ORDERS_COMMANDS, ORDERS_EVENTS, PORTFOLIO_POSITIONS, VENUE_EXECUTIONS
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

CONFIG = FlowConfig(orders=80, seed=31, accounts=3, run_id="agree")
TOPICS = (ORDERS_EVENTS, VENUE_EXECUTIONS, PORTFOLIO_POSITIONS)
Outputs = dict[str, dict[tuple[str, str], list[dict[str, Any]]]]


def _flow() -> tuple[list[Any], list[Any]]:
    flow = OrderFlow(CONFIG)
    limits = flow.limits()
    return limits, list(flow.commands())


def _by_key(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each account and symbol's records in order (a topic orders records per partition only), ingest aside."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        comparable = {**record, "meta": {**record["meta"], "ingest_time_us": 0}}
        grouped.setdefault((record["account"], record["symbol"]), []).append(comparable)
    return grouped


def _through_kafka(infra_settings: Settings, topology: str) -> Outputs:
    settings = infra_settings.with_topic_prefix(f"a{uuid.uuid4().hex[:10]}.")
    create_topics(settings, CATALOGUE)
    stages = topology_stages(topology)
    supervisor = Supervisor(settings.as_env())
    gauge = IdleGauge(settings, stages)
    try:
        for stage in stages:
            supervisor.start(stage)
        limits, commands = _flow()
        send_limits(settings, limits, stages[0])
        producer = AvroProducer(settings, None, **{"linger.ms": 0})
        for command in commands:
            producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
            producer.flush()
            time.sleep(0.01)  # the command reaches the log before the gauge asks where the end is
            wait_for(gauge.idle, 60, f"the {topology} pipeline to consume command {command.record['meta']['event_id']}")
        assert supervisor.check() is None and not supervisor.restarts
        return {topic: _by_key([d.record for d in read_events(settings, topic)]) for topic in TOPICS}
    finally:
        gauge.close()
        supervisor.stop()
        delete_prefixed_topics(settings)


@pytest.mark.timeout(600)
def test_single_split_and_the_memory_engine_write_the_same_outputs(infra_settings: Settings) -> None:
    limits, commands = _flow()
    memory = MemoryEngine(stage_factories("orderpath")).run(command_event(c) for c in (*limits, *commands))
    expected = {topic: _by_key(memory.records(topic)) for topic in TOPICS}
    assert sum(len(v) for v in expected[VENUE_EXECUTIONS].values()) > 50, "the flow trades"
    for topology in ("single", "split"):
        outputs = _through_kafka(infra_settings, topology)
        for topic in TOPICS:
            assert outputs[topic] == expected[topic], f"{topology}: {topic} differs from the memory engine"
