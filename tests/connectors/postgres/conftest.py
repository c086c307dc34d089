"""A database of its own for every test: created with a random name, dropped at the end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from connectors.postgres.migrate import migrate
from settings import Settings


@pytest.fixture
def database(infra_settings: Settings) -> Iterator[str]:
    """Connection string of a new, empty database; dropped (connections and all) after the test."""
    name = f"sqtest_{uuid.uuid4().hex[:12]}"
    admin_url = infra_settings.database_url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_url, dbname=name)
    finally:
        _drop(admin_url, name)


def _drop(admin_url: str, name: str) -> None:
    """DROP … WITH (FORCE) ends the sessions in it; a session connecting at that moment can still be in the
    way (a sink reconnecting), hence a few attempts."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(5):
        try:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(drop)
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 4:
                raise
            time.sleep(0.2)


@pytest.fixture
def migrated(database: str) -> str:
    """A new database with every migration applied."""
    migrate(database)
    return database


@pytest.fixture
def sink_settings(catalogue_topics: Settings, migrated: str) -> Settings:
    """Topics of this test's own and a migrated database of its own: what a sink under test uses."""
    return replace(catalogue_topics, external_database_url=migrated)
