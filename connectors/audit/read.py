"""An order's audit: catch the index up, look the order's positions up, fetch those records from Kafka, tell them.

1. ``catch_up`` (the index holds every committed record as of now);
2. the positions indexed under the order id: its command(s), decisions, order events, venue orders, executions;
3. those records, fetched at their offsets, then the positions their order events caused (indexed under the
   order event's id) in a second round;
4. the child orders (records naming it as ``parent_order_id``), each a story of its own, recursively.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer

from connectors.audit.fetch import audit_consumer, fetch_records
from connectors.audit.index import INDEXED_TOPICS, IndexStats, catch_up, children_of, lookup
from connectors.audit.story import StoryRecord, story_lines
from schemas.codec import Codec, default_codec
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import ORDERS_EVENTS

MAX_DEPTH = 8  # parent → child → grandchild …: deeper trees are cut (and say so)


class UnknownOrder(LookupError):
    """No record of the log names this order."""


@dataclass
class OrderAudit:
    order_id: str
    account: str
    lines: list[dict[str, Any]]
    children: list[OrderAudit] = field(default_factory=list)
    truncated: bool = False  # children deeper than MAX_DEPTH were not read

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "order_id": self.order_id,
            "account": self.account,
            "lines": self.lines,
            "children": [child.as_json() for child in self.children],
        }
        if self.truncated:
            document["truncated"] = True
        return document


def audit_order(
    settings: Settings,
    order_id: str,
    *,
    codec: Codec | None = None,
    refresh: bool = True,
    on_index_progress: Callable[[IndexStats], None] | None = None,
) -> OrderAudit:
    """The order's story from the log (see the module docstring); UnknownOrder when no record names it."""
    codec = codec or default_codec()
    consumer = audit_consumer(settings)  # one consumer for the catch-up and every fetch: connected once
    try:
        if refresh:
            catch_up(settings, settings.database_url, codec=codec, on_progress=on_index_progress, consumer=consumer)
        with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10) as conn:
            return _Teller(conn, settings, codec, consumer).story(order_id, depth=0)
    finally:
        consumer.close()


class _Teller:
    """Tells the stories of one order tree over one database connection."""

    def __init__(self, conn: psycopg.Connection[Any], settings: Settings, codec: Codec, consumer: Consumer) -> None:
        self.conn = conn
        self.consumer = consumer
        self.settings = settings
        self.codec = codec
        self.logical = {physical_name(settings, topic): topic for topic in INDEXED_TOPICS}
        self.seen: set[str] = set()

    def story(self, order_id: str, depth: int) -> OrderAudit:
        self.seen.add(order_id)
        records = self._records(lookup(self.conn, self.settings, [order_id]))
        if not records:
            raise UnknownOrder(order_id)
        event_ids = [str(r.record["meta"]["event_id"]) for r in records if r.logical_topic == ORDERS_EVENTS]
        if event_ids:
            records += self._records(lookup(self.conn, self.settings, event_ids))
        account = next((str(r.record["account"]) for r in records if r.record.get("account")), "")
        audit = OrderAudit(order_id, account, story_lines(records))
        for child in children_of(self.conn, self.settings, order_id):
            if child in self.seen:
                continue
            if depth + 1 >= MAX_DEPTH:
                audit.truncated = True
                continue
            try:
                audit.children.append(self.story(child, depth + 1))
            except UnknownOrder:
                continue  # linked by a parent_order_id, yet no record of its own (cannot happen with the index)
        return audit

    def _records(self, positions: dict[tuple[str, int], list[int]]) -> list[StoryRecord]:
        found: list[StoryRecord] = []
        for consumed in fetch_records(self.settings, positions, consumer=self.consumer):
            if consumed.value is None:
                continue
            decoded = self.codec.decode(consumed.value)
            found.append(
                StoryRecord(
                    self.logical[consumed.topic],
                    consumed.topic,
                    consumed.partition,
                    consumed.offset,
                    consumed.timestamp_ms,
                    decoded.schema,
                    decoded.record,
                )
            )
        return found
