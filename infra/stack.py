"""`sq infra up | down | status`: the broker and the database, local unless configured elsewhere."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg

from infra.kafka_broker import LocalBroker
from infra.postgres_server import LocalPostgres
from infra.process import metadata_answers
from settings import Settings


@dataclass(frozen=True)
class ServiceReport:
    name: str
    address: str
    running: bool
    managed: bool  # started and stopped by `sq infra` (False: an external service from the environment)
    started: bool = False  # this call started it
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        key = "bootstrap_servers" if self.name == "kafka" else "url"
        return {key: self.address, "running": self.running, "managed": self.managed}


def local_broker(settings: Settings) -> LocalBroker:
    return LocalBroker(settings.home, settings.kafka_port)


def local_postgres(settings: Settings) -> LocalPostgres:
    return LocalPostgres(settings.home, settings.postgres_port)


def kafka_answers(settings: Settings, timeout_s: float = 2.0) -> bool:
    return metadata_answers(settings.kafka_config(), timeout_s)


def database_answers(settings: Settings) -> bool:
    try:
        with psycopg.connect(settings.database_url, connect_timeout=2) as conn:
            conn.execute("select 1")
    except psycopg.Error:
        return False
    return True


def up(settings: Settings) -> list[ServiceReport]:
    """Start whatever is local and not yet running; wait until both answer. Idempotent."""
    reports = []
    began = time.monotonic()
    if settings.external_kafka:
        reports.append(ServiceReport("kafka", settings.bootstrap_servers, kafka_answers(settings), managed=False))
    else:
        started = local_broker(settings).start()
        reports.append(
            ServiceReport("kafka", settings.bootstrap_servers, True, True, started, time.monotonic() - began)
        )
    began = time.monotonic()
    if settings.external_database_url:
        reports.append(ServiceReport("postgres", settings.database_url, database_answers(settings), managed=False))
    else:
        started = local_postgres(settings).start()
        reports.append(ServiceReport("postgres", settings.database_url, True, True, started, time.monotonic() - began))
    return reports


def down(settings: Settings) -> dict[str, bool]:
    """Stop only what `up` started here; external services are never touched."""
    stopped = {"kafka": False, "postgres": False}
    if not settings.external_kafka:
        stopped["kafka"] = local_broker(settings).stop()
    if not settings.external_database_url:
        stopped["postgres"] = local_postgres(settings).stop()
    return stopped


def status(settings: Settings) -> list[ServiceReport]:
    return [
        ServiceReport("kafka", settings.bootstrap_servers, kafka_answers(settings), not settings.external_kafka),
        ServiceReport(
            "postgres", settings.database_url, database_answers(settings), not settings.external_database_url
        ),
    ]
