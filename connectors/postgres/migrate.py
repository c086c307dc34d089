"""Versioned schema migrations: ``migrations/NNNN_name.sql`` applied in order, each once.

Each applied file is recorded in ``schema_migrations`` (version, name, checksum) in the same transaction as
its statements, so a crash leaves a migration either fully applied and recorded or not at all. A session
advisory lock serialises concurrent migrators (several processes may start at once): the second waits,
then finds nothing left to do. A recorded migration whose file has changed since is refused, not re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

# pg_advisory_lock key of the migrator: any constant shared by every process of the project ("SQMIGRAT").
MIGRATION_LOCK = 0x5351_4D49_4752_4154
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The database's recorded migrations disagree with the files (edited, missing or unknown)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationReport:
    applied: tuple[int, ...]  # versions applied by this call
    already_applied: tuple[int, ...]  # versions found applied before
    current: int  # latest version now applied (0 when none)

    def as_json(self) -> dict[str, Any]:
        return {"applied": list(self.applied), "already_applied": list(self.already_applied), "current": self.current}


def bundled_migrations() -> list[Migration]:
    """The migration files shipped with the package, in version order."""
    folder = resources.files("connectors.postgres").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


def migrate(conninfo: str, migrations: list[Migration] | None = None) -> MigrationReport:
    """Apply every pending migration to the database at ``conninfo``; safe to call from many processes."""
    migrations = bundled_migrations() if migrations is None else migrations
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            return _apply_pending(conn, migrations)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def applied_versions(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """Recorded version → checksum; empty when the database was never migrated."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if exists is None or not exists[0]:
        return {}
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def _apply_pending(conn: psycopg.Connection[Any], migrations: list[Migration]) -> MigrationReport:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
        "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    recorded = applied_versions(conn)
    known = {m.version: m for m in migrations}
    if unknown := sorted(recorded.keys() - known.keys()):
        raise MigrationError(f"the database has migrations {unknown} this code does not know: is it older?")
    applied: list[int] = []
    for migration in migrations:
        checksum = recorded.get(migration.version)
        if checksum is not None:
            if checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name}.sql changed after it was applied; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        with conn.transaction():
            conn.execute(migration.sql.encode())  # no parameters: the file may hold several statements
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
        applied.append(migration.version)
    already = tuple(sorted(recorded))
    current = max((*already, *applied), default=0)
    return MigrationReport(tuple(applied), already, current)
