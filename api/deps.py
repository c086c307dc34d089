"""Shared resources of a running API and the dependencies routes declare: the caller, a database connection."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api import key_store
from api.auth import KEY_PREFIX, Action, AuthError, Principal, decode_jwt, hash_api_key, key_id_of
from api.auth import principal_from_claims as _principal_from_claims
from api.commands import Origin
from api.config import ApiSettings
from api.db import Connection, ConnectionPool
from api.errors import ApiProblem
from api.metrics import ApiMetrics
from api.producer import CommandProducer
from api.rate_limit import RateLimiter
from api.read_your_writes import ProducedCommands
from connectors.postgres.lag import LagProbe


@dataclass
class Resources:
    """What one API process holds open; ``create_app`` builds it in the lifespan, tests may pass their own."""

    config: ApiSettings
    pool: ConnectionPool
    producer: CommandProducer
    limiter: RateLimiter
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    produced: ProducedCommands = field(default_factory=ProducedCommands)  # read-your-writes (read_your_writes.py)
    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    _key_cache: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    _key_cache_lock: threading.Lock = field(default_factory=threading.Lock)
    _lag_probe: LagProbe | None = None

    def lag_probe(self) -> LagProbe:
        """The projections' lag probe, made on first use (an admin client: only health checks need it)."""
        with self._key_cache_lock:
            if self._lag_probe is None:
                self._lag_probe = LagProbe(self.config.settings)
            return self._lag_probe

    @classmethod
    def open(cls, config: ApiSettings) -> Resources:
        return cls(
            config=config,
            pool=ConnectionPool(config.database_url, config.db_pool_size),
            producer=CommandProducer(config.settings, ack_timeout_s=config.broker_timeout_s),
            limiter=RateLimiter(config.rate_per_second, config.rate_burst),
        )

    def close(self) -> None:
        self.producer.close()
        self.pool.close()

    def origin(self) -> Origin:
        """A fresh event id and the wall-clock time for a command this API originates."""
        return Origin(str(uuid.uuid4()), time.time_ns() // 1_000)

    def cached_principal(self, key: str) -> Principal | None:
        """The key's principal while its cache entry is fresh (no I/O: callable on the event loop), else None."""
        key_id_of(key)  # a malformed key is refused as such, cached or not
        with self._key_cache_lock:
            cached = self._key_cache.get(hash_api_key(key))
        if cached is not None and cached[1] > self.monotonic():
            return cached[0]
        return None

    def principal_for_key(self, key: str) -> Principal:
        """The key's principal, from the cache or the key store (blocks on the database: a worker thread)."""
        if (cached := self.cached_principal(key)) is not None:
            return cached
        key_id = key_id_of(key)
        key_hash = hash_api_key(key)
        now = self.monotonic()
        with self.pool.connection() as conn:
            principal = key_store.principal_for_key(conn, key_id, key_hash)
        if principal is None:
            raise AuthError("unknown or revoked API key")
        with self._key_cache_lock:
            self._key_cache[key_hash] = (principal, now + self.config.key_cache_ttl_s)
        return principal

    def principal_for_token(self, token: str) -> Principal:
        if self.config.jwt_secret is None:
            raise AuthError("bearer tokens are not enabled on this server (no SQ_API_JWT_SECRET); use an API key")
        return _principal_from_claims(decode_jwt(token, self.config.jwt_secret, self.wall_clock()))


async def resources(request: Request) -> Resources:  # async: no worker-thread hop for an attribute
    found: Resources = request.app.state.resources
    return found


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from `sq auth create-key`.")
_bearer = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="An HS256 JWT (claims sub, role, accounts, exp), or an API key."
)


async def _principal_for_key(res: Resources, key: str) -> Principal:
    """On the loop when the key is cached (nearly every request), else the key store on a worker thread."""
    cached = res.cached_principal(key)
    return cached if cached is not None else await run_in_threadpool(res.principal_for_key, key)


async def authenticated(
    request: Request,
    res: Annotated[Resources, Depends(resources)],
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    """The caller, after its key or token is verified and its rate limit checked (401 / 429 otherwise).

    Async, like ``allowed``'s check: FastAPI runs a plain ``def`` dependency on a worker thread, and the hops
    there and back cost more than the check (a JWT's HMAC, a cache look-up, a token bucket) itself."""
    try:
        if api_key:
            principal = await _principal_for_key(res, api_key)
        elif bearer is not None and bearer.credentials.startswith(KEY_PREFIX):
            principal = await _principal_for_key(res, bearer.credentials)
        elif bearer is not None:
            principal = res.principal_for_token(bearer.credentials)
        else:
            raise AuthError("no credentials: send X-API-Key: <key> or Authorization: Bearer <token>")
    except AuthError as error:
        res.metrics.auth_failures.labels("no credentials" if not api_key and bearer is None else "invalid").inc()
        raise ApiProblem(401, str(error), "UNAUTHENTICATED", headers={"WWW-Authenticate": "Bearer"}) from None
    wait_s = res.limiter.take(principal.subject, res.monotonic())
    if wait_s > 0:
        res.metrics.rate_limited.inc()
        raise ApiProblem(
            429,
            f"rate limit of {res.limiter.rate:g} requests/s (burst {res.limiter.burst}) exceeded",
            "RATE_LIMITED",
            headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
        )
    request.state.principal = principal
    return principal


def allowed(action: Action) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must hold a role that may do ``action`` (403 otherwise)."""

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.may(action):
            raise ApiProblem(403, f"the {principal.role} role may not {action.value.replace('_', ' ')}", "FORBIDDEN")
        return principal

    return check


def require_account(principal: Principal, account: str) -> None:
    """403 when the caller may not act on ``account`` (for routes that name the account themselves)."""
    if not principal.sees(account):
        raise ApiProblem(403, f"this key may not act on account {account}", "ACCOUNT_NOT_PERMITTED")


def database(res: Annotated[Resources, Depends(resources)]) -> Iterator[Connection]:
    with res.pool.connection() as conn:
        yield conn


Reader = Annotated[Principal, Depends(allowed(Action.READ))]
Db = Annotated[Connection, Depends(database)]
Res = Annotated[Resources, Depends(resources)]
