"""Fixtures of the demo tests: a database and a topic prefix of each test's own, a free API port, and the
environment that points `sq demo` / `sq up` subprocesses at them."""

from __future__ import annotations

import os
import socket
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from confluent_kafka import KafkaException
from psycopg import sql
from psycopg.conninfo import make_conninfo

from sq.settings import Settings
from topics.admin import delete_prefixed_topics

SQ = [sys.executable, "-m", "sq.cli"]


@dataclass(frozen=True)
class StackEnv:
    settings: Settings
    port: int
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def stack_env(infra_settings: Settings) -> Iterator[StackEnv]:
    """A new database and topic prefix for one stack; the database and every prefixed topic go afterwards."""
    name = f"sqdemo_{uuid.uuid4().hex[:12]}"
    admin_url = infra_settings.database_url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = infra_settings.with_topic_prefix(f"t{uuid.uuid4().hex[:10]}.").with_database_url(
        make_conninfo(admin_url, dbname=name)
    )
    port = _free_port()
    env = {**os.environ, **settings.as_env(), "SQ_API_HOST": "127.0.0.1", "SQ_API_PORT": str(port)}
    try:
        yield StackEnv(settings, port, env)
    finally:
        try:
            delete_prefixed_topics(settings)
        except KafkaException as error:  # best effort: a failure leaves only clutter
            warnings.warn(f"could not delete the topics of {settings.topic_prefix}: {error}", stacklevel=1)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
