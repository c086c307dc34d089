-- API keys of the HTTP API (api/auth.py, api/key_store.py): only the SHA-256 of each key is kept, with the
-- role and the accounts it may act on ('*' for every account). Revoked keys stay for the audit trail.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      text PRIMARY KEY,
    key_hash    text NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('trader', 'risk', 'admin', 'read-only')),
    accounts    text[] NOT NULL CHECK (cardinality(accounts) > 0),
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
