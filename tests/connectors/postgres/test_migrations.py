"""Migrations: applied in order, once, recorded; concurrent migrators do not collide; edits are refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from connectors.postgres.migrate import Migration, MigrationError, bundled_migrations, migrate

pytestmark = pytest.mark.integration

PROJECTION_TABLES = {"orders", "order_events", "fills", "positions", "projection_offsets"}


def _tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {name for (name,) in rows}


def test_bundled_migrations_start_at_one_in_increasing_order() -> None:
    versions = [m.version for m in bundled_migrations()]
    assert versions[0] == 1 and versions == sorted(set(versions))


def test_migrate_twice_applies_each_migration_once(database: str) -> None:
    first = migrate(database)
    second = migrate(database)
    versions = tuple(m.version for m in bundled_migrations())
    latest = versions[-1]
    assert first.applied == versions and first.already_applied == ()
    assert second.applied == () and second.already_applied == first.applied
    assert first.current == second.current == latest
    assert PROJECTION_TABLES | {"schema_migrations"} <= _tables(database)
    with psycopg.connect(database) as conn:
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [v for (v,) in recorded] == list(first.applied)


def test_concurrent_migrators_apply_everything_exactly_once(database: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: migrate(database), range(4)))
    applied = [version for report in reports for version in report.applied]
    assert sorted(applied) == [m.version for m in bundled_migrations()]


def test_a_new_migration_is_applied_after_the_existing_ones(migrated: str) -> None:
    extra = Migration(9999, "extra", "CREATE TABLE extra_projection (id integer PRIMARY KEY);")
    report = migrate(migrated, [*bundled_migrations(), extra])
    assert report.applied == (9999,) and report.current == 9999
    assert "extra_projection" in _tables(migrated)


def test_a_failing_migration_leaves_nothing_behind(migrated: str) -> None:
    broken = Migration(9999, "broken", "CREATE TABLE half_done (id integer); SELECT 1/0;")
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(migrated, [*bundled_migrations(), broken])
    assert "half_done" not in _tables(migrated)
    assert migrate(migrated).applied == ()


def test_an_applied_migration_edited_afterwards_is_refused(migrated: str) -> None:
    edited = [Migration(m.version, m.name, m.sql + "\n-- edited") for m in bundled_migrations()]
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(migrated, edited)


def test_a_database_ahead_of_the_code_is_refused(migrated: str) -> None:
    with pytest.raises(MigrationError, match="does not know"):
        migrate(migrated, bundled_migrations()[:-1] or [])
