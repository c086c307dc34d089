"""The PostgreSQL sink end to end: records on the topics → rows in the projection tables, per second.

    python -m bench.sink_rows [--orders N] [--batch-size B] [--json]

A synthetic order-path stream (tests/kit/order_stream.py: fills, cancels, amends, rejects with
the venue's reports and the positions) is produced to orders.events, venue.executions and
portfolio.positions under a run prefix; then the sink (`run_sink`, until the topics are drained) projects it
into a fresh database. Timed: sink start (consumer assignment from the stored offsets) → last batch committed;
the time inside the database transactions is reported apart.
rows = order_events inserted + orders upserted (one per touched order per batch) + fills + positions.
The topics and the database are deleted at the end. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.common import BenchTopics, machine_info, machine_lines, print_document
from connectors.postgres.migrate import migrate
from connectors.postgres.sink import SinkOptions, run_sink
from settings import Settings, load_settings
from tests.kit.order_stream import SampleStream
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS, PORTFOLIO_POSITIONS, VENUE_EXECUTIONS
from topics.client import AvroProducer

PART = "sink"


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(orders: int, batch_size: int) -> dict[str, Any]:
    base = load_settings()
    topics = BenchTopics(base)
    database = f"bench_sink_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        scoped: Settings = base
        for logical in (ORDERS_EVENTS, VENUE_EXECUTIONS, PORTFOLIO_POSITIONS, DEAD_LETTERS):
            scoped, _ = topics.create(PART, logical)
        settings = replace(scoped, external_database_url=make_conninfo(base.database_url, dbname=database))
        migrate(settings.database_url)
        records = SampleStream(orders, run=topics.run_id).records()
        _progress(f"producing {len(records)} records ({orders} orders) …")
        producer = AvroProducer(settings)
        for produced in records:
            producer.produce(produced.topic, produced.key, produced.schema, produced.record)
        producer.flush()
        _progress(f"sinking them (batch size {batch_size}) …")
        began = time.monotonic()
        stats = run_sink(
            settings, max_seconds=600, options=SinkOptions(batch_size=batch_size, until_end=True, migrate=False)
        )
        seconds = time.monotonic() - began
        if stats.consumed != len(records):
            raise RuntimeError(f"the sink consumed {stats.consumed} of {len(records)} records")
        return {
            "orders": orders,
            "records": stats.consumed,
            "rows": stats.rows,
            "batch_size": batch_size,
            "batches": stats.batches,
            "seconds": round(seconds, 3),
            "records_per_second": round(stats.consumed / seconds, 1),
            "rows_per_second": round(stats.rows / seconds, 1),
            "write_seconds": round(stats.write_seconds, 3),
            "write_rows_per_second": round(stats.rows / stats.write_seconds, 1) if stats.write_seconds else None,
            "rows_by_table": {
                "order_events": stats.order_events,
                "orders": stats.orders,
                "fills": stats.fills,
                "positions": stats.positions,
            },
            "machine": machine_info(base),
        }
    finally:
        topics.cleanup()
        with psycopg.connect(base.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=SinkOptions.batch_size)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.orders, args.batch_size)
    if args.json:
        print_document(result)
        return 0
    for line in machine_lines(result["machine"]):
        print(line)
    print(
        f"sink: {result['records']} records → {result['rows']} rows in {result['seconds']} s "
        f"({result['batches']} batches of ≤ {result['batch_size']})"
    )
    print(f"  {result['records_per_second']:.0f} records/s, {result['rows_per_second']:.0f} rows/s end to end")
    print(
        f"  database transactions alone: {result['write_seconds']} s, {result['write_rows_per_second']:.0f} rows/s "
        "(COPY into temp tables + INSERT … ON CONFLICT + offsets + commit)"
    )
    print(f"  rows: {', '.join(f'{n} {t}' for t, n in result['rows_by_table'].items())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
