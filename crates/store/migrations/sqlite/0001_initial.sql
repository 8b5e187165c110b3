-- certherd's schema as of the release that introduced migration files (PRAGMA
-- user_version 4). Every statement is idempotent: a home of schema version 1 to 3 is
-- brought here by running this file before its own upgrade steps.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stores (name TEXT PRIMARY KEY, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    store TEXT NOT NULL REFERENCES stores(name),
    alias TEXT NOT NULL,
    kind TEXT NOT NULL,
    profile TEXT,
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    issuer_sha256 TEXT,
    stored_at BIGINT NOT NULL,
    cert BLOB NOT NULL,
    chain TEXT NOT NULL,
    key_sealed BLOB,
    PRIMARY KEY (store, alias)
);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS crls (sha256 TEXT PRIMARY KEY, issuer TEXT NOT NULL, der BLOB NOT NULL, this_update BIGINT NOT NULL, added_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    -- A rowid key grows monotonically here: the triggers below forbid deleting rows.
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS key_providers (
    name TEXT PRIMARY KEY,
    primary_key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS key_provider_servers (
    provider TEXT NOT NULL REFERENCES key_providers(name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    address TEXT NOT NULL,
    proxy TEXT,
    PRIMARY KEY (provider, address)
);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    cleared_at BIGINT
);
CREATE TABLE IF NOT EXISTS hosts (
    name TEXT PRIMARY KEY,
    ips TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    joined_at BIGINT,
    pool_sha256 TEXT,
    last_seen BIGINT
);
CREATE INDEX IF NOT EXISTS hosts_by_pool ON hosts (pool_sha256);
CREATE TABLE IF NOT EXISTS join_tokens (
    sha256 TEXT PRIMARY KEY,
    host TEXT NOT NULL REFERENCES hosts(name) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX IF NOT EXISTS join_tokens_by_host ON join_tokens (host);
-- Fleet state: each row belongs to its host and goes with it.
CREATE TABLE IF NOT EXISTS host_verification (
    host TEXT PRIMARY KEY REFERENCES hosts(name) ON DELETE CASCADE,
    enabled INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS host_orders (
    host TEXT NOT NULL REFERENCES hosts(name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    ordered_at BIGINT NOT NULL,
    PRIMARY KEY (host, kind)
);
CREATE TABLE IF NOT EXISTS host_roots (
    host TEXT NOT NULL REFERENCES hosts(name) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (host, sha256)
);
-- The last deploy problem a host's agent reported (a failed layout write or reload).
CREATE TABLE IF NOT EXISTS host_deploy (
    host TEXT PRIMARY KEY REFERENCES hosts(name) ON DELETE CASCADE,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_credentials (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
-- Webhook notifications waiting for delivery; a delivered one is deleted.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    webhook TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt BIGINT NOT NULL,
    last_error TEXT
);
-- Endpoints and files watched, with their last scan's findings and facts (JSON).
CREATE TABLE IF NOT EXISTS watches (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    target TEXT NOT NULL,
    server_name TEXT,
    verify INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    scanned_at BIGINT,
    starttls TEXT,
    pin TEXT,
    findings TEXT NOT NULL,
    facts TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
