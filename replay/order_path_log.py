"""Reading what the order path wrote back from Kafka, for `sq verify` and the tests."""

from __future__ import annotations

from replay.verify import OrderPathLog, Record
from schemas.codec import Codec, default_codec
from settings import Settings
from topics.catalogue import (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_DECISIONS,
    VENUE_EXECUTIONS,
    VENUE_ORDERS,
)
from topics.client import read_events


def read_order_path_log(settings: Settings, codec: Codec | None = None) -> OrderPathLog:
    codec = codec or default_codec()

    def records(topic: str) -> list[Record]:
        return [d.record for d in read_events(settings, topic, codec)]

    return OrderPathLog(
        commands=[(d.schema, d.record) for d in read_events(settings, ORDERS_COMMANDS, codec)],
        decisions=records(RISK_DECISIONS),
        order_events=records(ORDERS_EVENTS),
        venue_orders=records(VENUE_ORDERS),
        executions=records(VENUE_EXECUTIONS),
        positions=records(PORTFOLIO_POSITIONS),
    )
