"""`sq auth create-key --role R --accounts A1,A2` (prints the new key once, alone on its last line),
`sq auth revoke-key KEY_ID`, `sq auth create-token --role R --accounts … --subject S` (an HS256 JWT signed
with SQ_API_JWT_SECRET)."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

import psycopg

from settings import load_settings
from sq.errors import CommandError
from sq.output import progress, say

if TYPE_CHECKING:
    from api.auth import Role

# The role names of api/auth.py's Role, spelt here so that registering `sq auth` imports nothing of api/.
ROLES = ["trader", "risk", "admin", "read-only"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("auth", help="API keys and tokens")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create-key", help="create an API key; it is printed once, never stored")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--accounts",
        default=None,
        help="comma-separated accounts the key may act on, * for all (default * for risk and "
        "admin; required for trader and read-only)",
    )
    create.add_argument("--label", default="", help="a note on whose key it is")
    create.set_defaults(handler=create_key)
    revoke = actions.add_parser("revoke-key", help="revoke a key by its id (the part after sqk_)")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=revoke_key)
    token = actions.add_parser("create-token", help="sign a JWT with SQ_API_JWT_SECRET")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--accounts", required=True, help="comma-separated accounts, * for all")
    token.add_argument("--subject", required=True, help="who the token is for (the sub claim)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    token.set_defaults(handler=create_token)


def _accounts(role: Role, given: str | None) -> frozenset[str]:
    from api.auth import ALL_ACCOUNTS, parse_accounts

    if given is None:
        if role in ("trader", "read-only"):
            raise CommandError(f"a {role} key needs --accounts (comma-separated, or * for all)")
        given = ALL_ACCOUNTS
    try:
        return parse_accounts(given)
    except ValueError as error:
        raise CommandError(f"--accounts: {error}") from None


def create_key(args: argparse.Namespace) -> int:
    from api import key_store
    from api.auth import Role
    from connectors.postgres.migrate import MigrationError, migrate

    role = Role(args.role)
    accounts = _accounts(role, args.accounts)
    url = load_settings().database_url
    try:
        migrate(url)
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            key = key_store.create_key(conn, role, accounts, args.label)
    except MigrationError as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    progress(
        f"created {role} key {key.key_id} for accounts {', '.join(sorted(accounts))}; "
        "it is shown once, here, and cannot be recovered:"
    )
    say(key.key)
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    from api import key_store

    url = load_settings().database_url
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            revoked = key_store.revoke_key(conn, args.key_id)
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if not revoked:
        raise CommandError(f"no live key {args.key_id}")
    say(f"revoked key {args.key_id} (the API stops accepting it within seconds)")
    return 0


def create_token(args: argparse.Namespace) -> int:
    from api.auth import Role, token_for
    from api.config import ApiSettings, ConfigError

    role = Role(args.role)
    try:
        secret = ApiSettings.from_env().jwt_secret
    except ConfigError as error:
        raise CommandError(str(error)) from None
    if secret is None:
        raise CommandError("set SQ_API_JWT_SECRET (at least 32 bytes) to sign tokens, the same as the API's")
    if args.ttl <= 0:
        raise CommandError("--ttl must be positive")
    accounts = _accounts(role, args.accounts)
    say(token_for(args.subject, role, accounts, secret, int(time.time()) + args.ttl))
    return 0
