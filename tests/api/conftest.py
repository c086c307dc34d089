"""Fixtures of the API tests: a database and topics of each module's own, the API serving them, keys by role.

Each test module gets a new database (a random name, every migration applied) and its own topic prefix,
and one API server on them; keys for every role are created in that database. ``api_env`` bundles it.
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from _api_server import RunningApi, serve_api
from confluent_kafka import Consumer, KafkaException, TopicPartition

from api import key_store
from api.auth import Role
from connectors.postgres.databases import scratch_database
from connectors.postgres.sink import run_sink
from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.supervisor import start_worker, stop_workers
from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics, physical_name
from topics.catalogue import CATALOGUE

OWN = "ACC-OWN"  # the account the scoped keys may act on
OTHER = "ACC-OTHER"  # an account they may not


@pytest.fixture(scope="module")
def api_database(infra_settings: Settings) -> Iterator[str]:
    """A new database for the module, migrated; dropped (connections and all) afterwards."""
    with scratch_database(infra_settings.database_url, "sqapi", migrated=True) as url:
        yield url


@pytest.fixture(scope="module")
def api_settings(infra_settings: Settings, api_database: str) -> Iterator[Settings]:
    """The module's own topics (every catalogue topic, under a fresh prefix) and database; the topics are
    deleted afterwards (thousands of leftover test partitions slow every broker restart)."""
    settings = infra_settings.with_topic_prefix(f"t{uuid.uuid4().hex[:10]}.").with_database_url(api_database)
    create_topics(settings, CATALOGUE)
    _wait_until_partitions_have_leaders(settings)
    yield settings
    try:
        delete_prefixed_topics(settings)  # the catalogue's and any a processor created (changelogs)
    except KafkaException as error:  # best effort: a failure leaves only clutter
        warnings.warn(f"could not delete the test topics of {settings.topic_prefix}: {error}", stacklevel=1)


def _wait_until_partitions_have_leaders(settings: Settings, timeout_s: float = 60.0) -> None:
    """New topics answer "not leader for partition" for a moment (longer on a busy broker): wait it out, so
    the tests see a steady broker rather than a topic being born."""
    consumer = Consumer(settings.kafka_config(**{"group.id": "sq-test-ready"}))
    deadline = time.monotonic() + timeout_s
    try:
        for spec in CATALOGUE:
            name = physical_name(settings, spec.name)
            for partition in range(spec.partitions):
                while True:
                    try:
                        consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=5)
                        break
                    except KafkaException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
    finally:
        consumer.close()


@dataclass(frozen=True)
class Keys:
    trader: str  # OWN only
    other_trader: str  # OTHER only
    risk: str  # every account
    admin: str  # every account
    read_only: str  # OWN only
    risk_own: str  # a risk key for OWN only

    def by_role(self, role: str) -> str:
        return {"trader": self.trader, "risk": self.risk, "admin": self.admin, "read-only": self.read_only}[role]


@pytest.fixture(scope="module")
def keys(api_database: str) -> Keys:
    with psycopg.connect(api_database, autocommit=True) as conn:

        def new(role: Role, *accounts: str) -> str:
            return key_store.create_key(conn, role, accounts, label="test").key

        return Keys(
            trader=new(Role.TRADER, OWN),
            other_trader=new(Role.TRADER, OTHER),
            risk=new(Role.RISK, "*"),
            admin=new(Role.ADMIN, "*"),
            read_only=new(Role.READ_ONLY, OWN),
            risk_own=new(Role.RISK, OWN),
        )


@dataclass(frozen=True)
class ApiEnv:
    api: RunningApi
    settings: Settings
    keys: Keys

    def client(self, key: str | None = None, timeout_s: float = 15.0) -> httpx.Client:
        headers = {"X-API-Key": key} if key is not None else {}
        return httpx.Client(base_url=self.api.base_url, headers=headers, timeout=timeout_s)


@pytest.fixture(scope="module")
def api_env(api_settings: Settings, keys: Keys) -> Iterator[ApiEnv]:
    """The API serving the module's topics and database, with a rate limit no functional test reaches."""
    with serve_api(api_settings, rate_per_second=100_000.0, rate_burst=100_000) as api:
        yield ApiEnv(api, api_settings, keys)


@pytest.fixture(scope="module")
def order_path(api_env: ApiEnv) -> Iterator[ApiEnv]:
    """The order path's workers and the projection sink running on the API's topics and database."""
    workers = [start_worker(name, 0, "kafka", env=api_env.settings.as_env()) for name in ORDER_PATH]
    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(api_env.settings,), kwargs={"stop": stop}, daemon=True)
    sink.start()
    try:
        yield api_env
    finally:
        stop.set()
        stop_workers(workers)
        sink.join(timeout=30)
