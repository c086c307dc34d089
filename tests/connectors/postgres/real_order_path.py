"""The real order path in process (risk → oms → venue → oms → portfolio cores) fed by the seeded order flow:
what it writes to the sink's topics, in the order it writes it."""

from __future__ import annotations

from collections import deque

from connectors.order_flow import FlowConfig, OrderFlow
from connectors.postgres.projection import INPUTS
from connectors.postgres.sample_stream import Produced
from processors.core import Event
from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.registry import new_core
from topics.catalogue import ORDERS_COMMANDS


def order_path_log(orders: int, seed: int = 11, run_id: str = "pg") -> list[Produced]:
    cores = [new_core(name) for name in ORDER_PATH]
    log: list[Produced] = []
    for command in OrderFlow(FlowConfig(orders=orders, seed=seed, run_id=run_id)).commands():
        time_us = command.record["meta"]["ingest_time_us"]
        pending = deque([Event(ORDERS_COMMANDS, command.key, command.schema, command.record, time_us)])
        while pending:
            event = pending.popleft()
            for core in cores:
                if event.topic not in core.inputs and event.topic not in core.broadcast_inputs:
                    continue
                for emit in core.apply(event):
                    if emit.topic in INPUTS:
                        log.append(Produced(emit.topic, emit.key, emit.schema, emit.record))
                    ingest = emit.record["meta"]["ingest_time_us"]
                    pending.append(Event(emit.topic, emit.key, emit.schema, emit.record, ingest))
    return log
