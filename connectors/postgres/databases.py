"""A database of one's own on a PostgreSQL server: created, handed out by its connection string, dropped.

Tests, benchmarks and the chaos harness isolate their projections this way rather than share (and migrate)
the server's main database: a migration recorded there that another checkout does not know makes that
checkout's migrator refuse the database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from connectors.postgres.migrate import migrate

DROP_ATTEMPTS = 5


def create_database(server_url: str, name: str, connect_timeout_s: int | None = None) -> str:
    """Create database ``name`` on the server of ``server_url``; its connection string."""
    with _admin(server_url, connect_timeout_s) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server_url, dbname=name)


def drop_database(server_url: str, name: str, pause_s: float = 0.2, connect_timeout_s: int | None = None) -> None:
    """Drop ``name`` with its sessions. ``WITH (FORCE)`` ends them, yet a client connecting at that moment (a
    sink reconnecting) or a session of another role (a monitor) can still refuse the drop: a few attempts,
    then the last error is raised."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(DROP_ATTEMPTS):
        try:
            with _admin(server_url, connect_timeout_s) as admin:
                admin.execute(drop)
            return
        except psycopg.Error:
            if attempt == DROP_ATTEMPTS - 1:
                raise
            time.sleep(pause_s)


def _admin(server_url: str, connect_timeout_s: int | None) -> psycopg.Connection[tuple[object, ...]]:
    """A connection for CREATE/DROP DATABASE, which run outside a transaction."""
    if connect_timeout_s is not None:
        server_url = make_conninfo(server_url, connect_timeout=connect_timeout_s)
    return psycopg.connect(server_url, autocommit=True)


@contextmanager
def scratch_database(server_url: str, prefix: str, *, migrated: bool = False) -> Iterator[str]:
    """The connection string of a new database named ``<prefix>_<random>`` (with every migration applied when
    ``migrated``); dropped, connections and all, afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        drop_database(server_url, name)
