"""Writes one batch's rows and consumed offsets in one PostgreSQL transaction.

Order events (new rows only, see ``_append_order_events``) go by COPY straight into order_events; the other
rows by COPY into session temp tables (emptied at each commit, or after each use in a rebuild), then one
INSERT … ON CONFLICT per table merges them: one round trip per table whatever the batch size. The offsets
are upserted in the same transaction, so after a crash the tables and the resume points agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from connectors.postgres.projection import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    ORDER_EVENT_COLUMNS,
    POSITION_COLUMNS,
    PROJECTION,
    BatchRows,
    Row,
)

PROJECTION_TABLES = ("orders", "order_events", "fills", "positions")

# How conflicting rows merge with what the table holds (see projection.py for why).
_ORDERS_ON_CONFLICT = "ON CONFLICT (order_id) DO UPDATE SET " + ", ".join(
    f"{c} = orders.{c}"
    if c == "created_time_us"
    else f"{c} = coalesce(EXCLUDED.{c}, orders.{c})"
    if c == "last_reason"
    else f"{c} = EXCLUDED.{c}"
    for c in ORDER_COLUMNS
    if c != "order_id"
)
_FILLS_ON_CONFLICT = (
    "ON CONFLICT (order_id, fill_id) DO UPDATE SET side = coalesce(fills.side, EXCLUDED.side), "
    "liquidity = coalesce(fills.liquidity, EXCLUDED.liquidity), venue = coalesce(fills.venue, EXCLUDED.venue), "
    "event_time_us = least(fills.event_time_us, EXCLUDED.event_time_us), "
    "order_event_id = coalesce(fills.order_event_id, EXCLUDED.order_event_id), "
    "execution_event_id = coalesce(fills.execution_event_id, EXCLUDED.execution_event_id)"
)
_POSITIONS_ON_CONFLICT = "ON CONFLICT (account, symbol) DO UPDATE SET " + ", ".join(
    f"{c} = EXCLUDED.{c}" for c in POSITION_COLUMNS if c not in ("account", "symbol")
)
_ORDERS_UPDATE = ", ".join(
    f"{c} = coalesce(u.{c}, orders.{c})" if c == "last_reason" else f"{c} = u.{c}"
    for c in ORDER_COLUMNS
    if c not in ("order_id", "created_time_us")
)
_ORDER_NAMES = sql.SQL(", ").join(sql.Identifier(c) for c in ORDER_COLUMNS)
_ORDER_EVENT_NAMES = sql.SQL(", ").join(sql.Identifier(c) for c in ORDER_EVENT_COLUMNS)


class BatchWriter:
    """Owns one connection (autocommit, explicit transactions) and its temp tables."""

    def __init__(
        self, conn: psycopg.Connection[Any], projection: str = PROJECTION, one_transaction: bool = False
    ) -> None:
        """``one_transaction``: every batch is a savepoint of one outer transaction (a rebuild)."""
        self.conn = conn
        self.projection = projection
        self.one_transaction = one_transaction
        merged = ("orders", "fills", "positions")
        staging = [(f"incoming_{table}", table) for table in merged] + [("incoming_order_updates", "orders")]
        for staged, table in staging:
            conn.execute(
                sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                    sql.Identifier(staged), sql.Identifier(table)
                )
            )

    # -- what the batch needs to know first --------------------------------------------------------
    def lookups(self, event_ids: Sequence[str], order_ids: Sequence[str]) -> tuple[set[str], dict[str, int]]:
        """The order event ids already held, and the last sequence number of each order (absent: none yet).

        Both questions go in one round trip (pipeline mode).
        """
        if not event_ids:
            return set(), {}
        with self.conn.pipeline():
            known = self.conn.execute("SELECT event_id FROM order_events WHERE event_id = ANY(%s)", (list(event_ids),))
            # From the history, not the orders table: events of an order id that is no order have no orders row.
            counts = self.conn.execute(
                "SELECT order_id, max(sequence) FROM order_events WHERE order_id = ANY(%s) GROUP BY order_id",
                (list(order_ids),),
            )
        return {event_id for (event_id,) in known.fetchall()}, dict(counts.fetchall())

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        rows = self.conn.execute(
            "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = %s", (self.projection,)
        ).fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    # -- the write ---------------------------------------------------------------------------------
    def write(self, rows: BatchRows) -> None:
        with self.conn.transaction():
            self._append_order_events(rows.order_events)
            self._merge("orders", ORDER_COLUMNS, rows.order_upserts(), _ORDERS_ON_CONFLICT)
            self._update_orders(rows.order_updates())
            if counts := rows.order_counts():
                with self.conn.cursor() as cur:
                    cur.executemany("UPDATE orders SET event_count = %s WHERE order_id = %s", counts)
            self._merge("fills", FILL_COLUMNS, (fill.row() for fill in rows.fills.values()), _FILLS_ON_CONFLICT)
            self._merge("positions", POSITION_COLUMNS, rows.positions.values(), _POSITIONS_ON_CONFLICT)
            if rows.offsets:
                with self.conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO projection_offsets (projection, topic, partition, next_offset, applied_time_ms) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (projection, topic, partition) "
                        "DO UPDATE SET next_offset = EXCLUDED.next_offset, applied_time_ms = "
                        "coalesce(EXCLUDED.applied_time_ms, projection_offsets.applied_time_ms)",
                        [
                            (self.projection, t, p, o, rows.times.get((t, p)))
                            for (t, p), o in sorted(rows.offsets.items())
                        ],
                    )

    def _append_order_events(self, rows: list[Row]) -> None:
        """COPY straight into order_events: the history is append-only and every row is new.

        ``project`` keeps only event ids the table does not hold (asked under the sink lock, the only writer)
        and numbers them after the order's last sequence, so staging and ON CONFLICT would merge nothing; this
        halves the work of the biggest table. Were a row there already, the unique keys would fail the batch
        whole (rows and offsets), never skip or double it.
        """
        if not rows:
            return
        statement = sql.SQL("COPY order_events ({}) FROM STDIN").format(_ORDER_EVENT_NAMES)
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def _merge(self, table: str, columns: Sequence[str], rows: Iterable[Row], on_conflict: str) -> None:
        batch = list(rows)
        if not batch:
            return
        staged = sql.Identifier(f"incoming_{table}")
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        with self.conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staged, names)) as copy:
                for row in batch:
                    copy.write_row(row)
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} " + on_conflict).format(
                    sql.Identifier(table), names, names, staged
                )
            )
            if self.one_transaction:  # no commit between batches to empty the staging table
                cur.execute(sql.SQL("TRUNCATE {}").format(staged))

    def _update_orders(self, rows: list[Row]) -> None:
        """Apply state rows to orders that exist; an order id no row holds is no order (nothing to update)."""
        if not rows:
            return
        with self.conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY incoming_order_updates ({}) FROM STDIN").format(_ORDER_NAMES)) as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                "UPDATE orders SET " + _ORDERS_UPDATE + " FROM incoming_order_updates u "
                "WHERE orders.order_id = u.order_id"
            )
            if self.one_transaction:
                cur.execute("TRUNCATE incoming_order_updates")

    def clear(self) -> None:
        """Delete every projected row and this projection's offsets (for a rebuild, inside its transaction).

        DELETE rather than TRUNCATE: readers keep seeing the old rows until the rebuild commits, where
        TRUNCATE would lock them out for the whole rebuild.
        """
        with self.conn.transaction():
            for table in PROJECTION_TABLES:
                self.conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            self.conn.execute("DELETE FROM projection_offsets WHERE projection = %s", (self.projection,))
