"""API keys in PostgreSQL (table ``api_keys``, migration connectors/postgres/migrations/0100_api_keys.sql)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

import psycopg

from api.auth import NewKey, Principal, Role, new_api_key


def create_key(conn: psycopg.Connection, role: Role, accounts: Iterable[str], label: str = "") -> NewKey:
    """Store a new key (its hash only) and return it; the caller shows ``key`` once and forgets it."""
    key = new_api_key()
    conn.execute(
        "insert into api_keys (key_id, key_hash, role, accounts, label) values (%s, %s, %s, %s, %s)",
        (key.key_id, key.key_hash, str(role), sorted(accounts), label),
    )
    return key


def principal_for_key(conn: psycopg.Connection, key_id: str, key_hash: str) -> Principal | None:
    """The principal of a live key, None for an unknown, revoked or mismatching one."""
    row = conn.execute(
        "select key_hash, role, accounts from api_keys where key_id = %s and revoked_at is null", (key_id,)
    ).fetchone()
    if row is None:
        return None
    stored_hash, role, accounts = row
    if not hmac.compare_digest(stored_hash, key_hash):
        return None
    return Principal(f"key:{key_id}", Role(role), frozenset(accounts))


def revoke_key(conn: psycopg.Connection, key_id: str) -> bool:
    cursor = conn.execute("update api_keys set revoked_at = now() where key_id = %s and revoked_at is null", (key_id,))
    return cursor.rowcount == 1
