"""The environment a `sq` subprocess needs to use a test's broker, topic prefix and database."""

from __future__ import annotations

from collections.abc import Mapping

from settings import Settings


def sink_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    env = {
        **base,
        "SQ_TOPIC_PREFIX": settings.topic_prefix,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
    }
    env.pop("PYTHONSAFEPATH", None)  # `-m sq.cli` must find the repo's packages from the working directory
    return env
