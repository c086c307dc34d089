"""The PostgreSQL sink end to end: records on the topics → rows in the projection tables, per second.

    python -m bench.sink_rows [--orders N] [--batch-size B] [--json]

A synthetic order-path stream (tests/kit/order_stream.py: fills, cancels, amends, rejects with
the venue's reports and the positions) is produced to orders.events, venue.executions and
portfolio.positions under a run prefix; then the sink (`run_sink`, until the topics are drained) projects it
into a fresh database. Timed: sink start (consumer assignment from the stored offsets) → last batch committed;
the time inside the database transactions is reported apart.
rows = order_events inserted + orders upserted (one per touched order per batch) + fills + positions.

Then the write patterns on the same rows (the projection's final rows, read back), each into the empty tables of a
second fresh database with the same schema and indexes, timed from the first write to the last commit:
- raw COPY: one psycopg COPY per table (``write_row`` of the Python tuples), one transaction: the floor for these
  tables (their primary keys, unique constraints and indexes are kept up as rows arrive);
- raw COPY, unindexed: the same into unlogged tables of the same columns without any index (the bare COPY);
- staging + upsert: per batch of ``--batch-size`` rows, COPY into a temp table and one INSERT … SELECT …
  ON CONFLICT DO UPDATE per table, one transaction per batch (the sink's merge);
- executemany: per batch, ``executemany`` of INSERT … ON CONFLICT DO UPDATE (psycopg sends it in pipeline mode),
  one transaction per batch.
The headline ratio is the sink's end-to-end rows/s ÷ the raw COPY's rows/s of the same run, both counting the
same rows (the projection's final rows), that is the raw COPY's seconds ÷ the sink's seconds.
The topics and the databases are deleted at the end. Progress goes to stderr.
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
from connectors.postgres.projection import FILL_COLUMNS, ORDER_COLUMNS, ORDER_EVENT_COLUMNS, POSITION_COLUMNS
from connectors.postgres.sink import SinkOptions, run_sink
from settings import Settings, load_settings
from tests.kit.order_stream import SampleStream
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS, PORTFOLIO_POSITIONS, VENUE_EXECUTIONS
from topics.client import AvroProducer

PART = "sink"
# table → (columns, primary key): the projection tables the patterns write.
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "order_events": (ORDER_EVENT_COLUMNS, ("event_id",)),
    "orders": (ORDER_COLUMNS, ("order_id",)),
    "fills": (FILL_COLUMNS, ("order_id", "fill_id")),
    "positions": (POSITION_COLUMNS, ("account", "symbol")),
}
Rows = dict[str, list[tuple[Any, ...]]]


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _read_rows(url: str) -> Rows:
    """The projection's rows as Python tuples (jsonb as its text, as the sink writes it)."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(
                        sql.SQL("{}::text").format(sql.Identifier(c)) if c == "event" else sql.Identifier(c)
                        for c in columns
                    ),
                    sql.Identifier(table),
                )
            ).fetchall()
            for table, (columns, _) in TABLES.items()
        }


def _names(columns: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _upsert(table: str, source: sql.Composable) -> sql.Composed:
    columns, key = TABLES[table]
    return sql.SQL("INSERT INTO {} ({}) {} ON CONFLICT ({}) DO UPDATE SET {}").format(
        sql.Identifier(table),
        _names(columns),
        source,
        _names(key),
        sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in columns if c not in key
        ),
    )


def _copy_into(conn: psycopg.Connection[Any], rows: Rows, prefix: str) -> None:
    with conn.transaction(), conn.cursor() as cur:
        for table, batch in rows.items():
            columns, _ = TABLES[table]
            target = sql.Identifier(f"{prefix}{table}")
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(target, _names(columns))) as copy:
                for row in batch:
                    copy.write_row(row)


def _raw_copy(conn: psycopg.Connection[Any], rows: Rows, batch_size: int) -> None:
    del batch_size  # one COPY per table, whatever the batch size
    _copy_into(conn, rows, "")


def _raw_copy_unindexed(conn: psycopg.Connection[Any], rows: Rows, batch_size: int) -> None:
    """COPY into tables of the same columns and types without indexes or constraints: the bare COPY."""
    del batch_size
    for table in rows:
        bare = sql.Identifier(f"bare_{table}")
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(bare))
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(bare, sql.Identifier(table))
        )
    _copy_into(conn, rows, "bare_")


def _staging_upsert(conn: psycopg.Connection[Any], rows: Rows, batch_size: int) -> None:
    for table in rows:
        conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                sql.Identifier(f"staged_{table}"), sql.Identifier(table)
            )
        )
    for table, all_rows in rows.items():
        columns, _ = TABLES[table]
        staged = sql.Identifier(f"staged_{table}")
        merge = _upsert(table, sql.SQL("SELECT {} FROM {}").format(_names(columns), staged))
        for start in range(0, len(all_rows), batch_size):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staged, _names(columns))) as copy:
                    for row in all_rows[start : start + batch_size]:
                        copy.write_row(row)
                cur.execute(merge)


def _executemany(conn: psycopg.Connection[Any], rows: Rows, batch_size: int) -> None:
    for table, all_rows in rows.items():
        columns, _ = TABLES[table]
        insert = _upsert(table, sql.SQL("VALUES ({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns))))
        for start in range(0, len(all_rows), batch_size):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(insert, all_rows[start : start + batch_size])


PATTERNS = {
    "raw_copy": _raw_copy,
    "raw_copy_unindexed": _raw_copy_unindexed,
    "staging_upsert": _staging_upsert,
    "executemany_pipeline": _executemany,
}


def measure_patterns(source_url: str, target_url: str, batch_size: int) -> dict[str, Any]:
    """Rows/s of each write pattern on the projection's rows at ``source_url``, into ``target_url``'s empty tables."""
    rows = _read_rows(source_url)
    count = sum(len(batch) for batch in rows.values())
    figures: dict[str, Any] = {"rows": count}
    with psycopg.connect(target_url, autocommit=True) as conn:
        for name, write in PATTERNS.items():
            conn.execute("TRUNCATE order_events, orders, fills, positions")
            _progress(f"write pattern {name}: {count} rows …")
            began = time.monotonic()
            write(conn, rows, batch_size)
            seconds = time.monotonic() - began
            figures[name] = {"seconds": round(seconds, 3), "rows_per_second": round(count / seconds, 1)}
    return figures


def run(orders: int, batch_size: int) -> dict[str, Any]:
    base = load_settings()
    topics = BenchTopics(base)
    database = f"bench_sink_{uuid.uuid4().hex[:8]}"
    patterns_database = f"{database}_patterns"
    with psycopg.connect(base.database_url, autocommit=True) as admin:
        for name in (database, patterns_database):
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
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
        patterns_url = make_conninfo(base.database_url, dbname=patterns_database)
        migrate(patterns_url)
        patterns = measure_patterns(settings.database_url, patterns_url, batch_size)
        # The same rows for both: the projection's final rows (the sink's own count is of row writes, some of
        # which merge into one row: an order touched in two batches, a fill told by the OMS and the venue).
        rows_per_second = patterns["rows"] / seconds
        return {
            "orders": orders,
            "records": stats.consumed,
            "rows": stats.rows,
            "batch_size": batch_size,
            "batches": stats.batches,
            "seconds": round(seconds, 3),
            "records_per_second": round(stats.consumed / seconds, 1),
            "rows_per_second": round(stats.rows / seconds, 1),
            "final_rows_per_second": round(rows_per_second, 1),
            "sink_over_raw_copy": round(rows_per_second / patterns["raw_copy"]["rows_per_second"], 3),
            "sink_over_raw_copy_unindexed": round(
                rows_per_second / patterns["raw_copy_unindexed"]["rows_per_second"], 3
            ),
            "write_patterns": patterns,
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
        for name in (database, patterns_database):
            _drop_database(base.database_url, name)


def _drop_database(admin_url: str, name: str) -> None:
    """DROP … WITH (FORCE), again while an autovacuum worker is in the database (after the bulk writes): only
    a superuser may end that one, and it ends by itself within moments."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(20):
        try:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(drop)
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == 19:
                raise
            time.sleep(0.5)


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
    patterns = result["write_patterns"]
    print(f"write patterns on the projection's {patterns['rows']} rows (batches of ≤ {result['batch_size']}):")
    for name in PATTERNS:
        print(f"  {name}: {patterns[name]['rows_per_second']:.0f} rows/s ({patterns[name]['seconds']} s)")
    print(
        f"sink: {result['final_rows_per_second']:.0f} final rows/s; ÷ raw COPY: {result['sink_over_raw_copy']:.3f}, "
        f"÷ raw COPY unindexed: {result['sink_over_raw_copy_unindexed']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
