"""A database of its own for every test: created with a random name, dropped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from connectors.postgres.databases import scratch_database
from connectors.postgres.migrate import migrate
from settings import Settings


@pytest.fixture
def database(infra_settings: Settings) -> Iterator[str]:
    """Connection string of a new, empty database; dropped (connections and all) after the test."""
    with scratch_database(infra_settings.database_url, "sqtest") as url:
        yield url


@pytest.fixture
def migrated(database: str) -> str:
    """A new database with every migration applied."""
    migrate(database)
    return database


@pytest.fixture
def sink_settings(catalogue_topics: Settings, migrated: str) -> Settings:
    """Topics of this test's own and a migrated database of its own: what a sink under test uses."""
    return replace(catalogue_topics, external_database_url=migrated)
