"""One settings object for every part of ShrivenQuant, read from the environment.

Environment variables (all optional):

- ``KAFKA_BOOTSTRAP_SERVERS``: an existing Kafka cluster; when unset, the local broker of ``sq infra``.
- any other ``KAFKA_<NAME>``: passed to librdkafka as ``<name>`` with ``_`` → ``.``
  (``KAFKA_SECURITY_PROTOCOL=SASL_SSL`` → ``security.protocol``), so a managed cluster works unchanged.
- ``DATABASE_URL``: an existing PostgreSQL; when unset, the local server of ``sq infra``.
- ``SQ_HOME``: where all local state lives (broker jars and data, the database, pid files); default ``<repo>/.sq``.
- ``SQ_TOPIC_PREFIX``: prefixes every topic name (isolates tests and tenants on one cluster).
- ``SQ_KAFKA_PORT`` / ``SQ_POSTGRES_PORT``: ports of the local broker and database.
- ``SQ_METRICS_PORT``: where a process serves ``/metrics``, ``/healthz`` and ``/readyz`` (unset: not served;
  ``sq run`` gives its N-th worker this port + N, ``sq up`` serves the sink's on it and its N-th worker's on
  this port + 1 + N); ``SQ_METRICS_HOST``: its interface (default 127.0.0.1).
- ``SQ_ACCOUNT_PARTITIONS`` / ``SQ_SYMBOL_PARTITIONS``: partitions of the account-keyed and symbol-keyed
  topics (default 4 each): a stage runs at most this many active workers. Every process of a deployment must
  see the same counts (``sq topics create`` reports a live topic whose count differs), read once at start.
- ``SQ_LOG_FORMAT``: ``json`` (one JSON object a line, with the correlation id of the event in hand) or
  ``text`` (for humans at a terminal); default ``json``. ``SQ_LOG_LEVEL``: default ``INFO``.
- ``SQ_VENUES``: the named simulated venues, comma-separated ``name=maker_bps/taker_bps/latency_us`` (fees in
  integer basis points of notional, negative = rebate; latency in event-time microseconds between an order
  message arriving and the venue handling it), e.g. ``sim=2/5/0,fast=1/4/500``. Unset: the single venue
  ``sim`` at the venue core's defaults (``processors.venue.config``). Every venue mirrors the symbol's market
  feed (``md.depth``, ``md.trades``); a venue an order names that is not listed trades at the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_KAFKA_PORT = 19092
DEFAULT_POSTGRES_PORT = 55432
LOCAL_DB_NAME = "shrivenquant"
LOCAL_DB_USER = "shrivenquant"
LOCAL_DB_PASSWORD = "shrivenquant"


def _kafka_client_properties(env: Mapping[str, str]) -> dict[str, str]:
    """librdkafka properties from KAFKA_* variables, bootstrap servers excluded (handled on its own)."""
    properties: dict[str, str] = {}
    for name, value in env.items():
        if name.startswith("KAFKA_") and name != "KAFKA_BOOTSTRAP_SERVERS":
            properties[name.removeprefix("KAFKA_").lower().replace("_", ".")] = value
    return properties


DEFAULT_PARTITIONS = 4


def catalogue_partitions(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(account, symbol) partitions of the keyed topics, from SQ_ACCOUNT_PARTITIONS / SQ_SYMBOL_PARTITIONS."""
    env = os.environ if env is None else env
    counts = []
    for name in ("SQ_ACCOUNT_PARTITIONS", "SQ_SYMBOL_PARTITIONS"):
        value = env.get(name) or str(DEFAULT_PARTITIONS)
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{name}={value!r}: a number of partitions, 1 or more")
        counts.append(int(value))
    return counts[0], counts[1]


LOG_FORMATS = ("json", "text")


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """One named simulated venue of ``SQ_VENUES``."""

    name: str
    maker_fee_bps: int
    taker_fee_bps: int
    latency_us: int


DEFAULT_VENUE = VenueSpec("sim", maker_fee_bps=2, taker_fee_bps=5, latency_us=0)  # unset SQ_VENUES: this alone


def parse_venues(text: str) -> tuple[VenueSpec, ...]:
    """``SQ_VENUES`` as venue specs; ValueError naming the part that is wrong."""
    specs: list[VenueSpec] = []
    for part in (p.strip() for p in text.split(",")):
        name, equals, terms = part.partition("=")
        numbers = terms.split("/")
        if not equals or not name.strip() or len(numbers) != 3:
            raise ValueError(f"SQ_VENUES part {part!r}: write name=maker_bps/taker_bps/latency_us, e.g. sim=2/5/0")
        try:
            maker, taker, latency = (int(n) for n in numbers)
        except ValueError:
            raise ValueError(f"SQ_VENUES part {part!r}: fees and latency must be whole numbers") from None
        if latency < 0:
            raise ValueError(f"SQ_VENUES part {part!r}: latency_us must not be negative")
        if "|" in name:  # processors.core.STATE_SUBKEY_SEPARATOR: a venue name is part of state keys
            raise ValueError(f"SQ_VENUES part {part!r}: a venue name must not contain '|'")
        if any(spec.name == name.strip() for spec in specs):
            raise ValueError(f"SQ_VENUES names venue {name.strip()!r} twice")
        specs.append(VenueSpec(name.strip(), maker, taker, latency))
    return tuple(specs)


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"SQ_LOG_FORMAT={value!r}: choose one of {', '.join(LOG_FORMATS)}")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    kafka_port: int
    postgres_port: int
    external_kafka: str | None
    external_database_url: str | None
    kafka_properties: dict[str, str] = field(default_factory=dict)
    topic_prefix: str = ""
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_format: str = "json"
    log_level: str = "INFO"
    venues: tuple[VenueSpec, ...] = ()  # empty: the venue core's single default venue

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            home=Path(env.get("SQ_HOME", PROJECT_ROOT / ".sq")).resolve(),
            kafka_port=int(env.get("SQ_KAFKA_PORT", DEFAULT_KAFKA_PORT)),
            postgres_port=int(env.get("SQ_POSTGRES_PORT", DEFAULT_POSTGRES_PORT)),
            external_kafka=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            external_database_url=env.get("DATABASE_URL") or None,
            kafka_properties=_kafka_client_properties(env),
            topic_prefix=env.get("SQ_TOPIC_PREFIX", ""),
            metrics_port=int(env["SQ_METRICS_PORT"]) if env.get("SQ_METRICS_PORT") else None,
            metrics_host=env.get("SQ_METRICS_HOST", "127.0.0.1"),
            log_format=_log_format(env.get("SQ_LOG_FORMAT", "json")),
            log_level=env.get("SQ_LOG_LEVEL", "INFO").upper(),
            venues=parse_venues(env["SQ_VENUES"]) if env.get("SQ_VENUES") else (),
        )

    @property
    def bootstrap_servers(self) -> str:
        return self.external_kafka or f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return self.external_database_url or (
            f"postgresql://{LOCAL_DB_USER}:{LOCAL_DB_PASSWORD}@127.0.0.1:{self.postgres_port}/{LOCAL_DB_NAME}"
        )

    def kafka_config(self, **overrides: object) -> dict[str, object]:
        """A confluent-kafka configuration: bootstrap servers, pass-through security settings, overrides."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.kafka_properties, **overrides}

    def with_topic_prefix(self, prefix: str) -> Settings:
        return replace(self, topic_prefix=prefix)

    def with_kafka(self, bootstrap_servers: str, properties: Mapping[str, str]) -> Settings:
        """Another Kafka cluster: its servers and the client properties it needs (security), nothing else kept."""
        return replace(self, external_kafka=bootstrap_servers, kafka_properties=dict(properties))

    def with_database_url(self, url: str) -> Settings:
        return replace(self, external_database_url=url)

    def as_env(self) -> dict[str, str]:
        """Environment variables that make ``from_env`` in a child process give back these settings."""
        env = {
            "SQ_HOME": str(self.home),
            "SQ_KAFKA_PORT": str(self.kafka_port),
            "SQ_POSTGRES_PORT": str(self.postgres_port),
            "SQ_TOPIC_PREFIX": self.topic_prefix,
            "SQ_METRICS_HOST": self.metrics_host,
            "SQ_LOG_FORMAT": self.log_format,
            "SQ_LOG_LEVEL": self.log_level,
        }
        if self.metrics_port is not None:
            env["SQ_METRICS_PORT"] = str(self.metrics_port)
        if self.venues:
            env["SQ_VENUES"] = ",".join(
                f"{v.name}={v.maker_fee_bps}/{v.taker_fee_bps}/{v.latency_us}" for v in self.venues
            )
        if self.external_kafka:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.external_kafka
        if self.external_database_url:
            env["DATABASE_URL"] = self.external_database_url
        for name, value in self.kafka_properties.items():
            env["KAFKA_" + name.upper().replace(".", "_")] = value
        return env


def load_settings() -> Settings:
    return Settings.from_env()
