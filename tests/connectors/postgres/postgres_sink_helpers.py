"""Helpers of the sink tests: produce a stream, read back every projected row."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from settings import Settings
from tests.kit.order_stream import Produced
from topics.client import AvroProducer


def produce(settings: Settings, records: Iterable[Produced]) -> int:
    producer = AvroProducer(settings)
    count = 0
    for produced in records:
        producer.produce(produced.topic, produced.key, produced.schema, produced.record)
        count += 1
    producer.flush()
    return count


def table_rows(conninfo: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every projection table, sorted: what two builds are compared on."""
    with psycopg.connect(conninfo) as conn:
        return {
            table: sorted(conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall(), key=repr)
            for table in ("orders", "order_events", "fills", "positions")
        }


def consumed_records(conninfo: str) -> int:
    """Records the sink has committed as consumed: the sum of its next offsets (topics written without
    transactions, from offset 0, hold no control records)."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM projection_offsets").fetchone()
    return int(row[0]) if row is not None else 0
