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

JWTs are compact JWS with ``alg`` HS256 only (a token naming another algorithm, ``none`` included, is
refused), signed with the configured secret; claims ``sub``, ``role``, ``accounts`` (a list, ``["*"]`` for
all) and ``exp`` (required, seconds since the epoch).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

ALL_ACCOUNTS: Final = "*"
KEY_PREFIX: Final = "sqk_"
_KEY_ID_BYTES: Final = 6
_SECRET_BYTES: Final = 32
_JWT_HEADER: Final = {"alg": "HS256", "typ": "JWT"}
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
def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise AuthError("malformed token") from None


def _sign(signing_input: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def encode_jwt(claims: Mapping[str, Any], secret: bytes) -> str:
    header = _b64encode(json.dumps(_JWT_HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{_b64encode(_sign(signing_input, secret))}"


def decode_jwt(token: str, secret: bytes, now_s: float) -> dict[str, Any]:
    """The verified claims of an HS256 token: signature (constant-time), alg, exp and nbf checked."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("malformed token")
    header_b64, payload_b64, signature_b64 = parts
    expected = _sign(f"{header_b64}.{payload_b64}".encode(), secret)
    if not hmac.compare_digest(expected, _b64decode(signature_b64)):
        raise AuthError("bad token signature")
    header, claims = _json_object(header_b64), _json_object(payload_b64)
    if header.get("alg") != "HS256":  # signed with our secret yet naming another alg: refuse all the same
        raise AuthError("token algorithm must be HS256")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise AuthError("token has no exp")
    if now_s > exp + CLOCK_SKEW_S:
        raise AuthError("token expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and now_s + CLOCK_SKEW_S < nbf:
        raise AuthError("token not valid yet")
    return claims


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (ValueError, UnicodeDecodeError):
        raise AuthError("malformed token") from None
    if not isinstance(value, dict):
        raise AuthError("malformed token")
    return value


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
