"""The API's settings from the environment: the body limit and the broker timeout (no server)."""

from __future__ import annotations

import pytest

from api.config import DEFAULT_BROKER_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, ApiSettings, ConfigError
from settings import Settings

BASE = Settings.from_env({})


def test_the_body_limit_and_broker_timeout_default_to_the_documented_values() -> None:
    config = ApiSettings.from_env(BASE, {})
    assert (config.max_body_bytes, config.broker_timeout_s) == (DEFAULT_MAX_BODY_BYTES, DEFAULT_BROKER_TIMEOUT_S)
    assert DEFAULT_MAX_BODY_BYTES == 128 * 1024


def test_the_body_limit_and_broker_timeout_come_from_the_environment() -> None:
    env = {"SQ_API_MAX_BODY_BYTES": "4096", "SQ_API_BROKER_TIMEOUT_SECONDS": "2.5"}
    config = ApiSettings.from_env(BASE, env)
    assert (config.max_body_bytes, config.broker_timeout_s) == (4096, 2.5)


@pytest.mark.parametrize(
    "env",
    [{"SQ_API_MAX_BODY_BYTES": "0"}, {"SQ_API_MAX_BODY_BYTES": "1MB"}, {"SQ_API_BROKER_TIMEOUT_SECONDS": "-1"}],
)
def test_unusable_values_are_refused_naming_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(env))):
        ApiSettings.from_env(BASE, env)


def test_settings_passed_to_a_child_process_come_back_the_same() -> None:
    """`sq up` runs the API in a process of its own with ``as_env``: every field survives the trip."""
    config = ApiSettings(
        settings=BASE.with_topic_prefix("p."),
        host="0.0.0.0",
        port=8123,
        jwt_secret=b"s" * 32,
        rate_per_second=12.5,
        rate_burst=7,
        db_pool_size=3,
        key_cache_ttl_s=0.25,
        max_body_bytes=4096,
        broker_timeout_s=2.5,
        projection_wait_s=0.75,
    )
    assert ApiSettings.from_env(env=config.as_env()) == config
