"""The API's settings: the project's ``Settings`` plus what only the HTTP edge needs, from the environment.

Environment variables (all optional):

- ``SQ_API_HOST`` / ``SQ_API_PORT``: where ``sq api`` listens (default 127.0.0.1:8000).
- ``SQ_API_JWT_SECRET``: the HS256 signing key of JWT bearer tokens; unset, bearer JWTs are refused (API keys
  still work). It never has a default: a key in the code would be a key anyone can read.
- ``SQ_API_RATE_PER_SECOND`` / ``SQ_API_RATE_BURST``: each key's token bucket (default 50/s, burst 100).
- ``SQ_API_DB_POOL_SIZE``: PostgreSQL connections the API keeps open (default 8).
- ``SQ_API_KEY_CACHE_SECONDS``: how long a verified API key is trusted before the database is asked again,
  so a revoked key stops working within this time (default 5).
- ``SQ_API_MAX_BODY_BYTES``: the largest request body accepted; a larger one is a 413 before it is parsed
  (default 131072, 128 KiB: the largest valid order, 32 algorithm parameters at full length in characters
  JSON escapes as surrogate pairs, is about 123 KB; the command it becomes stays below Kafka's 1 MB records).
- ``SQ_API_BROKER_TIMEOUT_SECONDS``: how long a request waits for the broker (a produce acknowledgement, a
  topic's metadata) before it is answered 503 (default 10).
- ``SQ_API_PROJECTION_WAIT_SECONDS``: how long a read, cancel or amend of an order whose command this API
  produced waits for the projection to hold that command's answer, and the bound of ``POST ?wait=`` (default
  2); then the answer says what is known (``PENDING_PROJECTION``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from settings import Settings

Number = TypeVar("Number", int, float)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
DEFAULT_MAX_BODY_BYTES = 128 * 1024
DEFAULT_BROKER_TIMEOUT_S = 10.0
DEFAULT_PROJECTION_WAIT_S = 2.0


class ConfigError(ValueError):
    """A setting has a value the API cannot run with; the message names the variable."""


@dataclass(frozen=True)
class ApiSettings:
    settings: Settings
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    jwt_secret: bytes | None = None
    rate_per_second: float = 50.0
    rate_burst: int = 100
    db_pool_size: int = 8
    key_cache_ttl_s: float = 5.0  # how long a key's role and accounts are trusted between database look-ups
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    broker_timeout_s: float = DEFAULT_BROKER_TIMEOUT_S
    projection_wait_s: float = DEFAULT_PROJECTION_WAIT_S  # read-your-writes: the bound of a wait for the sink

    @classmethod
    def from_env(cls, settings: Settings | None = None, env: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if env is None else env
        secret = env.get("SQ_API_JWT_SECRET") or None
        if secret is not None and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ConfigError(f"SQ_API_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long")
        return cls(
            settings=settings if settings is not None else Settings.from_env(env),
            host=env.get("SQ_API_HOST", DEFAULT_HOST),
            port=_number(env, "SQ_API_PORT", DEFAULT_PORT, int),
            jwt_secret=secret.encode() if secret is not None else None,
            rate_per_second=_number(env, "SQ_API_RATE_PER_SECOND", 50.0, float),
            rate_burst=_number(env, "SQ_API_RATE_BURST", 100, int),
            db_pool_size=_number(env, "SQ_API_DB_POOL_SIZE", 8, int),
            key_cache_ttl_s=_number(env, "SQ_API_KEY_CACHE_SECONDS", 5.0, float),
            max_body_bytes=_number(env, "SQ_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int),
            broker_timeout_s=_number(env, "SQ_API_BROKER_TIMEOUT_SECONDS", DEFAULT_BROKER_TIMEOUT_S, float),
            projection_wait_s=_number(env, "SQ_API_PROJECTION_WAIT_SECONDS", DEFAULT_PROJECTION_WAIT_S, float),
        )

    def as_env(self) -> dict[str, str]:
        """Environment variables that make ``from_env`` in a child process give back these settings."""
        env = {
            **self.settings.as_env(),
            "SQ_API_HOST": self.host,
            "SQ_API_PORT": str(self.port),
            "SQ_API_RATE_PER_SECOND": repr(self.rate_per_second),
            "SQ_API_RATE_BURST": str(self.rate_burst),
            "SQ_API_DB_POOL_SIZE": str(self.db_pool_size),
            "SQ_API_KEY_CACHE_SECONDS": repr(self.key_cache_ttl_s),
            "SQ_API_MAX_BODY_BYTES": str(self.max_body_bytes),
            "SQ_API_BROKER_TIMEOUT_SECONDS": repr(self.broker_timeout_s),
            "SQ_API_PROJECTION_WAIT_SECONDS": repr(self.projection_wait_s),
        }
        if self.jwt_secret is not None:
            env["SQ_API_JWT_SECRET"] = self.jwt_secret.decode()
        return env

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    def with_overrides(self, **changes: object) -> ApiSettings:
        return replace(self, **changes)  # type: ignore[arg-type]  # dataclasses.replace takes the fields

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _number(env: Mapping[str, str], name: str, default: Number, kind: type[Number]) -> Number:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {raw}")
    return value
