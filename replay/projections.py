"""Rebuild the PostgreSQL projections from the topics: drop their rows and offsets, replay from offset 0.

The rebuild IS the sink (same decoding, same projection rules, same batched writes), run from empty until
the topics are drained, so its result equals what the live sink built from the same log. It runs in one
database transaction: readers (the API) see the old projection until the new one is complete, and a rebuild
that fails or is interrupted changes nothing. It holds the sink lock, so it refuses to run beside a live
sink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from connectors.postgres.sink import SinkOptions, SinkStats, run_sink
from connectors.postgres.writer import PROJECTION_TABLES
from settings import Settings


@dataclass(frozen=True)
class RebuildReport:
    stats: SinkStats
    tables: dict[str, int]  # rows per projection table after the rebuild

    @property
    def complete(self) -> bool:
        """The rebuild reached the end of the topics and committed (else it rolled back: nothing changed)."""
        return self.stats.caught_up

    def as_json(self) -> dict[str, Any]:
        return {"complete": self.complete, "tables": self.tables, "sink": self.stats.as_json()}


def table_counts(conninfo: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        for table in PROJECTION_TABLES:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            counts[table] = row[0] if row is not None else 0
    return counts


def rebuild_projections(
    settings: Settings, batch_size: int = SinkOptions.batch_size, on_progress: Callable[[SinkStats], None] | None = None
) -> RebuildReport:
    """Drop the projections and rebuild them from every record of the sink's topics."""
    options = SinkOptions(batch_size=batch_size, until_end=True, start_empty=True, lock_wait_s=0.0)
    stats = run_sink(settings, options=options, on_progress=on_progress)
    return RebuildReport(stats, table_counts(settings.database_url))


def projection_rows(conninfo: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every projection table, sorted: what two builds of the projections are compared on."""
    with psycopg.connect(conninfo) as conn:
        return {
            table: sorted(conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall(), key=repr)
            for table in PROJECTION_TABLES
        }
