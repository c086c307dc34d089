"""A database of one's own on the shared PostgreSQL server: created, migrated, dropped afterwards.

Tests and benchmarks that migrate must not migrate the shared database: a migration recorded there that
another checkout does not have makes that checkout's migrator refuse the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from connectors.postgres.migrate import migrate


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """The conninfo of a new, migrated database named ``<prefix>_<random>``; dropped (connections and all) after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(server_url, dbname=name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
