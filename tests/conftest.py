"""Session fixtures: the real Kafka broker and PostgreSQL every integration test runs against.

Where they come from, in order: ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` when both are set;
testcontainers when a Docker engine answers; else the project's own local broker and database
(``sq infra up``), stopped at the end of the session if the session started them (set ``SQ_KEEP_INFRA=1``
to keep them for the next run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace

import pytest

from infra import stack
from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _from_testcontainers(stack_: ExitStack, base: Settings) -> Settings:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = stack_.enter_context(KafkaContainer("apache/kafka:4.1.1").with_kraft())
    postgres = stack_.enter_context(PostgresContainer("postgres:15", driver=None))
    return replace(
        base, external_kafka=kafka.get_bootstrap_server(), external_database_url=postgres.get_connection_url()
    )


@pytest.fixture(scope="session")
def infra_settings() -> Iterator[Settings]:
    base = Settings.from_env()
    if base.external_kafka and base.external_database_url:
        yield base
        return
    with ExitStack() as containers:
        if _docker_answers():
            yield _from_testcontainers(containers, base)
            return
    reports = stack.up(base)
    started_here = any(r.started for r in reports)
    yield base
    if started_here and not os.environ.get("SQ_KEEP_INFRA"):
        stack.down(base)


@pytest.fixture
def settings(infra_settings: Settings) -> Iterator[Settings]:
    """The session's broker and database, with a topic prefix of this test's own; its topics go afterwards
    (thousands of leftover partitions slow a small broker down and fill its heap)."""
    scoped = infra_settings.with_topic_prefix(f"t{uuid.uuid4().hex[:10]}.")
    yield scoped
    delete_prefixed_topics(scoped)


@pytest.fixture
def catalogue_topics(settings: Settings) -> Settings:
    """Every catalogue topic created under this test's prefix."""
    create_topics(settings, CATALOGUE)
    return settings
