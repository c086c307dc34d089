"""Seeded order flows as the events a pipeline takes: each account's limits, then the commands."""

from __future__ import annotations

from connectors.order_flow import RISK_LIMITS_SCHEMA, FlowCommand, FlowConfig, OrderFlow
from processors.core import Event
from topics.catalogue import ORDERS_COMMANDS, RISK_LIMITS


def command_event(command: FlowCommand) -> Event:
    """A flow command as the event a core is handed (the record's ingest time as the record's timestamp)."""
    topic = RISK_LIMITS if command.schema == RISK_LIMITS_SCHEMA else ORDERS_COMMANDS
    return Event(topic, command.key, command.schema, command.record, command.record["meta"]["ingest_time_us"])


def flow_events(config: FlowConfig) -> list[Event]:
    """The flow of ``config`` with every account's limits first, as `sq flow` sends it."""
    flow = OrderFlow(config)
    return [command_event(command) for command in (*flow.limits(), *flow.commands())]
