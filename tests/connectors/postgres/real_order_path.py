"""The real order path in process (the "orderpath" stage: risk, oms, venue, portfolio on the memory engine) fed
by the seeded order flow: what it writes to the sink's topics, in the order it writes it."""

from __future__ import annotations

from connectors.order_flow import FlowConfig, OrderFlow
from connectors.postgres.projection import INPUTS
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import stage_spec
from processors.runtime.registry import core_class
from tests.kit.flows import command_event
from tests.kit.order_stream import Produced


def order_path_log(orders: int, seed: int = 11, run_id: str = "pg") -> list[Produced]:
    engine = MemoryEngine([core_class(name) for name in stage_spec("orderpath").cores], name="orderpath")
    log: list[Produced] = []
    for command in OrderFlow(FlowConfig(orders=orders, seed=seed, run_id=run_id)).commands():
        for emit in engine.send(command_event(command)):
            if emit.topic in INPUTS:
                log.append(Produced(emit.topic, emit.key, emit.schema, emit.record))
    return log
