"""Who is calling and what they may do: roles, API keys, HS256 JWTs. No I/O here (the key store is apart).

A caller is a ``Principal``: a role and the accounts it may act on (``ALL_ACCOUNTS`` for every account).

==========  ===================================================================================
role        may
==========  ===================================================================================
trader      place, amend and cancel orders, and read, on its own accounts
risk        read every account it is given, cancel orders, use the kill switch, set limits
admin       everything
read-only   read its accounts, nothing else
==========  ===================================================================================

API keys are ``sqk_<key id>_<secret>``: the id names the key in logs and metrics, the secret is 256 random
bits; the store keeps only the SHA-256 of the whole key (a fast hash is enough for a secret this long: it
cannot be guessed, only stolen, and a stolen database gives no usable key).

JWTs are signed and verified by PyJWT, with HS256 its only allowed algorithm (a token naming another,
``none`` included, is refused) and the configured secret; claims ``sub``, ``role``, ``accounts`` (a list,
``["*"]`` for all) and ``exp`` (required, seconds since the epoch), with ``CLOCK_SKEW_S`` of leeway on
``exp`` and ``nbf``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import jwt

ALL_ACCOUNTS: Final = "*"
KEY_PREFIX: Final = "sqk_"
_KEY_ID_BYTES: Final = 6
_SECRET_BYTES: Final = 32
JWT_ALGORITHMS: Final = ["HS256"]  # PyJWT's allow-list: the header's alg must be one of these
CLOCK_SKEW_S: Final = 30  # leeway for exp/nbf between the issuer's clock and ours


class Role(StrEnum):
    TRADER = "trader"
    RISK = "risk"
    ADMIN = "admin"
    READ_ONLY = "read-only"


class Action(StrEnum):
    READ = "read"
    PLACE_ORDER = "place_order"
    AMEND_ORDER = "amend_order"
    CANCEL_ORDER = "cancel_order"
    KILL_SWITCH = "kill_switch"
    SET_LIMITS = "set_limits"


PERMISSIONS: Final[Mapping[Role, frozenset[Action]]] = {
    Role.TRADER: frozenset({Action.READ, Action.PLACE_ORDER, Action.AMEND_ORDER, Action.CANCEL_ORDER}),
    Role.RISK: frozenset({Action.READ, Action.CANCEL_ORDER, Action.KILL_SWITCH, Action.SET_LIMITS}),
    Role.ADMIN: frozenset(Action),
    Role.READ_ONLY: frozenset({Action.READ}),
}


class AuthError(Exception):
    """The credentials are missing, malformed, forged, expired or unknown (HTTP 401)."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # "key:<key id>" or "jwt:<sub>": also the rate limiter's bucket
    role: Role
    accounts: frozenset[str]

    @property
    def all_accounts(self) -> bool:
        return ALL_ACCOUNTS in self.accounts

    def may(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]

    def sees(self, account: str) -> bool:
        return self.all_accounts or account in self.accounts

    def visible_accounts(self) -> frozenset[str] | None:
        """The accounts a query must be limited to; None when the principal sees every account."""
        return None if self.all_accounts else self.accounts


def parse_accounts(text: str | Iterable[str]) -> frozenset[str]:
    """``"A1,A2"`` or an iterable → the account set; ``"*"`` alone stands for every account."""
    items = text.split(",") if isinstance(text, str) else list(text)
    accounts = frozenset(a.strip() for a in items if a.strip())
    if not accounts:
        raise ValueError("no accounts given (use * for every account)")
    if ALL_ACCOUNTS in accounts and len(accounts) > 1:
        raise ValueError("* already means every account; give it alone")
    return accounts


# -- API keys -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    key: str  # shown once, never stored
    key_hash: str


def new_api_key() -> NewKey:
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return NewKey(key_id, key, hash_api_key(key))


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str:
    """The id part of a well-formed key; AuthError for anything else (checked before any database look-up)."""
    if not key.startswith(KEY_PREFIX):
        raise AuthError("not an API key")
    key_id, sep, secret = key.removeprefix(KEY_PREFIX).partition("_")
    if not sep or len(key_id) != 2 * _KEY_ID_BYTES or len(secret) < _SECRET_BYTES:
        raise AuthError("malformed API key")
    return key_id


# -- JWT (HS256) --------------------------------------------------------------------------------------------
def encode_jwt(claims: Mapping[str, Any], secret: bytes) -> str:
    return jwt.encode(dict(claims), secret, algorithm=JWT_ALGORITHMS[0])


def decode_jwt(token: str, secret: bytes, now_s: float) -> dict[str, Any]:
    """The verified claims of an HS256 token at the instant ``now_s``.

    PyJWT checks the structure, the algorithm against ``JWT_ALGORITHMS``, the signature (in constant time) and
    that ``exp`` is there. ``exp`` and ``nbf`` are compared with ``now_s`` here, as PyJWT reads only the system
    clock and the API's clock is injectable (``Resources.wall_clock``); the rule and leeway are PyJWT's own.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=JWT_ALGORITHMS,
            options={"require": ["exp"], "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise AuthError("bad token signature") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError(f"token algorithm must be {' or '.join(JWT_ALGORITHMS)}") from None
    except jwt.MissingRequiredClaimError as error:
        raise AuthError(f"token has no {error.claim}") from None
    except jwt.DecodeError:
        raise AuthError("malformed token") from None
    except jwt.InvalidTokenError as error:  # e.g. a sub that is not a string
        raise AuthError(f"invalid token: {error}") from None
    exp, nbf = _instant(claims, "exp"), _instant(claims, "nbf")
    if exp is None:
        raise AuthError("token has no exp")
    if exp <= now_s - CLOCK_SKEW_S:
        raise AuthError("token expired")
    if nbf is not None and nbf > now_s + CLOCK_SKEW_S:
        raise AuthError("token not valid yet")
    return claims


def _instant(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim (seconds since the epoch), None when absent; AuthError when it is not a number."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(f"token {name} must be a number of seconds since the epoch")
    return float(value)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    subject, role, accounts = claims.get("sub"), claims.get("role"), claims.get("accounts")
    if not isinstance(subject, str) or not subject:
        raise AuthError("token has no sub")
    try:
        parsed_role = Role(str(role))
    except ValueError:
        raise AuthError(f"token role must be one of {', '.join(Role)}") from None
    if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
        raise AuthError("token accounts must be a list of strings")
    try:
        return Principal(f"jwt:{subject}", parsed_role, parse_accounts(accounts))
    except ValueError as error:
        raise AuthError(f"token accounts: {error}") from None


def token_for(principal_subject: str, role: Role, accounts: Iterable[str], secret: bytes, expires_at_s: int) -> str:
    """A signed token for a subject (what ``sq auth create-token`` prints)."""
    return encode_jwt(
        {"sub": principal_subject, "role": str(role), "accounts": sorted(accounts), "exp": expires_at_s}, secret
    )
