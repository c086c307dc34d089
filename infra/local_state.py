"""Which Kafka log the database's projections were built from, recorded in the database and checked every start.

The projections (and the sink's stored offsets) are derived from one Kafka log. When the broker's data goes
(a new checkout, ``.sq`` removed) but the database stays, the stored offsets point past the new topics' ends and
the sink refuses to start. So the database carries the cluster id of the log it projects, as its comment (no
table, nothing for the migrations to know), and whoever starts the stack compares it with the broker's.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from settings import Settings

COMMENT_PREFIX = "sq:kafka-cluster="
TIMEOUT_S = 10.0


class LocalStateError(RuntimeError):
    """The broker's cluster id cannot be read."""


def kafka_cluster_id(settings: Settings) -> str:
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({**settings.kafka_config(), "log_level": 0}).list_topics(timeout=TIMEOUT_S)  # type: ignore[dict-item]
    if not metadata.cluster_id:
        raise LocalStateError(f"the Kafka cluster at {settings.bootstrap_servers} reports no cluster id")
    return str(metadata.cluster_id)


@dataclass(frozen=True)
class LogBinding:
    """The cluster id the database's projections were built from (None: not recorded yet) and the broker's."""

    database_cluster: str | None
    broker_cluster: str

    @property
    def stale(self) -> bool:
        """The projections describe another log than the broker's: they must be rebuilt from this one."""
        return self.database_cluster is not None and self.database_cluster != self.broker_cluster

    def as_json(self) -> dict[str, object]:
        return {"database_cluster": self.database_cluster, "broker_cluster": self.broker_cluster, "stale": self.stale}


def read_binding(settings: Settings) -> LogBinding:
    broker = kafka_cluster_id(settings)
    with psycopg.connect(settings.database_url, connect_timeout=int(TIMEOUT_S)) as conn:
        row = conn.execute(
            "select shobj_description(oid, 'pg_database') from pg_database where datname = current_database()"
        ).fetchone()
    comment = row[0] if row is not None else None
    recorded = (
        comment.removeprefix(COMMENT_PREFIX)
        if isinstance(comment, str) and comment.startswith(COMMENT_PREFIX)
        else None
    )
    return LogBinding(recorded, broker)


def record_binding(settings: Settings, broker_cluster: str) -> None:
    """Mark the database as projecting ``broker_cluster``'s log (its owner, the application role, may)."""
    with psycopg.connect(settings.database_url, connect_timeout=int(TIMEOUT_S), autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()
        if name is None:
            raise LocalStateError("the database does not name itself")
        conn.execute(
            sql.SQL("comment on database {} is {}").format(
                sql.Identifier(name[0]), sql.Literal(COMMENT_PREFIX + broker_cluster)
            )
        )
