-- +goose Up
-- hookd dev keeps everything in one SQLite file: the configuration that
-- PostgreSQL keeps in production and the delivery log and dead-letter queue
-- that Cassandra keeps.
--
-- Conventions:
--   * STRICT tables: a value of the wrong type is an error, never silently
--     coerced.
--   * Configuration times are unix microseconds (what PostgreSQL timestamptz
--     keeps); log times are unix milliseconds (what a Cassandra timestamp
--     keeps). Durations are nanoseconds.
--   * Lists and maps are JSON text exactly as encoding/json wrote them, so
--     nil and empty survive a round trip.

CREATE TABLE endpoints (
    id                   TEXT    PRIMARY KEY,
    tenant_id            TEXT    NOT NULL DEFAULT '',
    url                  TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    event_types          TEXT    NOT NULL DEFAULT 'null',
    headers              TEXT    NOT NULL DEFAULT 'null',
    signing_scheme       TEXT    NOT NULL DEFAULT 'standard',
    retry_policy         TEXT    NOT NULL DEFAULT '{}',
    rate_limit           REAL    NOT NULL DEFAULT 0,
    max_concurrency      INTEGER NOT NULL DEFAULT 0,
    timeout_ns           INTEGER NOT NULL DEFAULT 0,
    success_status_codes TEXT    NOT NULL DEFAULT 'null',
    enabled              INTEGER NOT NULL DEFAULT 1,
    disabled_reason      TEXT    NOT NULL DEFAULT '',
    labels               TEXT    NOT NULL DEFAULT 'null',
    created_by           TEXT    NOT NULL DEFAULT '',
    updated_by           TEXT    NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    version              INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE INDEX endpoints_tenant ON endpoints (tenant_id, id);

-- Secrets are AES-GCM sealed (secretbox, context "endpoint_secret:<id>");
-- the file never holds them in plain text.
CREATE TABLE endpoint_secrets (
    id          TEXT    PRIMARY KEY,
    endpoint_id TEXT    NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
) STRICT;

CREATE INDEX endpoint_secrets_endpoint ON endpoint_secrets (endpoint_id, created_at, id);

-- One sealed known value: a daemon started with another encryption key
-- finds out before it signs anything.
CREATE TABLE encryption_key_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- API keys: only a hash of the key is stored.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL DEFAULT 'null',
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

CREATE TABLE replay_jobs (
    id              TEXT    PRIMARY KEY,
    idempotency_key TEXT    NOT NULL DEFAULT '',
    filter          TEXT    NOT NULL DEFAULT '{}',
    force           INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL,
    total           INTEGER NOT NULL DEFAULT 0,
    replayed        INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    error           TEXT    NOT NULL DEFAULT '',
    created_by      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;

CREATE UNIQUE INDEX replay_jobs_idempotency_key ON replay_jobs (idempotency_key)
    WHERE idempotency_key <> '';

-- Delivery attempts, keyed by their deterministic id so a retried write
-- is an upsert. Lists are newest first with ties broken by id (the
-- clustering order of the Cassandra tables); every list index ends with
-- (started_at, id), so a page is one index range with no sort.
-- expires_at is the attempt's own time plus the retention of its outcome
-- (never later than the write plus the retention), as the Cassandra TTL
-- is; reads skip expired rows at once and a purge deletes them.
CREATE TABLE attempts (
    id                   TEXT    PRIMARY KEY,
    delivery_id          TEXT    NOT NULL,
    event_id             TEXT    NOT NULL,
    event_type           TEXT    NOT NULL,
    endpoint_id          TEXT    NOT NULL,
    tenant_id            TEXT    NOT NULL,
    generation           INTEGER NOT NULL,
    attempt_number       INTEGER NOT NULL,
    started_at           INTEGER NOT NULL,
    duration_ns          INTEGER NOT NULL,
    status_code          INTEGER NOT NULL,
    outcome              TEXT    NOT NULL,
    error                TEXT    NOT NULL,
    request_headers      TEXT    NOT NULL,
    response_headers     TEXT    NOT NULL,
    response_body        BLOB,
    response_body_sha256 TEXT    NOT NULL,
    response_body_size   INTEGER NOT NULL,
    next_retry_at        INTEGER,
    expires_at           INTEGER NOT NULL
) STRICT;

CREATE INDEX attempts_started ON attempts (started_at, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, started_at, id);
CREATE INDEX attempts_tenant ON attempts (tenant_id, started_at, id);
CREATE INDEX attempts_event_type ON attempts (event_type, started_at, id);
CREATE INDEX attempts_delivery ON attempts (delivery_id, started_at, generation, attempt_number, id);
CREATE INDEX attempts_expires ON attempts (expires_at);

-- Dead letters, keyed by (endpoint_id, delivery_id); endpoint_id is '' for
-- messages that never had an endpoint (malformed input). Lists are newest
-- first, ties broken by endpoint and delivery id.
CREATE TABLE dead_letters (
    endpoint_id      TEXT    NOT NULL,
    delivery_id      TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    tenant_id        TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    last_error       TEXT    NOT NULL,
    last_status_code INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    generation       INTEGER NOT NULL,
    dead_at          INTEGER NOT NULL,
    payload          BLOB,
    replayed_at      INTEGER,
    expires_at       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, delivery_id)
) STRICT;

CREATE INDEX dead_letters_dead_at ON dead_letters (dead_at, endpoint_id, delivery_id);
CREATE INDEX dead_letters_endpoint ON dead_letters (endpoint_id, dead_at, delivery_id);
CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, dead_at, endpoint_id, delivery_id);
CREATE INDEX dead_letters_reason ON dead_letters (reason, dead_at, endpoint_id, delivery_id);
CREATE INDEX dead_letters_expires ON dead_letters (expires_at);

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE attempts;
DROP TABLE replay_jobs;
DROP TABLE api_keys;
DROP TABLE encryption_key_check;
DROP TABLE endpoint_secrets;
DROP TABLE endpoints;
