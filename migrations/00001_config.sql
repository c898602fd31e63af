-- +goose Up
-- Endpoint configuration, signing secrets, API keys and replay jobs.

CREATE TABLE endpoints (
    id                   text PRIMARY KEY,
    tenant_id            text             NOT NULL DEFAULT '',
    url                  text             NOT NULL,
    description          text             NOT NULL DEFAULT '',
    event_types          text[]           NOT NULL,
    headers              jsonb            NOT NULL DEFAULT '{}',
    signing_scheme       text             NOT NULL DEFAULT 'standard'
        CHECK (signing_scheme IN ('standard', 'stripe', 'github')),
    retry_policy         jsonb            NOT NULL DEFAULT '{}',
    rate_limit           double precision NOT NULL DEFAULT 0,
    max_concurrency      integer          NOT NULL DEFAULT 0,
    timeout_ms           bigint           NOT NULL DEFAULT 0,
    success_status_codes integer[]        NOT NULL DEFAULT '{}',
    enabled              boolean          NOT NULL DEFAULT true,
    disabled_reason      text             NOT NULL DEFAULT '',
    labels               jsonb            NOT NULL DEFAULT '{}',
    created_by           text             NOT NULL DEFAULT '',
    updated_by           text             NOT NULL DEFAULT '',
    created_at           timestamptz      NOT NULL,
    updated_at           timestamptz      NOT NULL,
    version              bigint           NOT NULL DEFAULT 1
);

CREATE INDEX endpoints_tenant_idx ON endpoints (tenant_id, id);

-- Secrets are AES-GCM sealed by the daemon; the database never sees them
-- in plain text.
CREATE TABLE endpoint_secrets (
    id          text PRIMARY KEY,
    endpoint_id text        NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    sealed      bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz
);

CREATE INDEX endpoint_secrets_endpoint_idx ON endpoint_secrets (endpoint_id, created_at DESC);

-- A sealed known value: a daemon started with another encryption key finds
-- out before it signs anything.
CREATE TABLE encryption_key_check (
    id         integer PRIMARY KEY CHECK (id = 1),
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL
);

-- API keys: only a SHA-256 of the key is stored.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text        NOT NULL,
    hash         bytea       NOT NULL UNIQUE,
    scopes       text[]      NOT NULL,
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE replay_jobs (
    id              text PRIMARY KEY,
    idempotency_key text        NOT NULL DEFAULT '',
    filter          jsonb       NOT NULL DEFAULT '{}',
    force           boolean     NOT NULL DEFAULT false,
    state           text        NOT NULL,
    total           bigint      NOT NULL DEFAULT 0,
    replayed        bigint      NOT NULL DEFAULT 0,
    skipped         bigint      NOT NULL DEFAULT 0,
    failed          bigint      NOT NULL DEFAULT 0,
    error           text        NOT NULL DEFAULT '',
    created_by      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz
);

CREATE UNIQUE INDEX replay_jobs_idempotency_key_idx ON replay_jobs (idempotency_key)
    WHERE idempotency_key <> '';

-- Every change to an endpoint is announced, so the daemons' subscription
-- indexes update within milliseconds instead of polling.
-- +goose StatementBegin
CREATE FUNCTION hookd_notify_endpoint_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hookd_endpoints', COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER endpoints_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION hookd_notify_endpoint_change();

-- A rotated secret is a change of its endpoint: signers drop cached secrets.
-- +goose StatementBegin
CREATE FUNCTION hookd_notify_secret_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hookd_endpoints', COALESCE(NEW.endpoint_id, OLD.endpoint_id));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER endpoint_secrets_notify_change
    AFTER INSERT OR UPDATE ON endpoint_secrets
    FOR EACH ROW EXECUTE FUNCTION hookd_notify_secret_change();

-- +goose Down
DROP TRIGGER endpoint_secrets_notify_change ON endpoint_secrets;
DROP FUNCTION hookd_notify_secret_change();
DROP TRIGGER endpoints_notify_change ON endpoints;
DROP FUNCTION hookd_notify_endpoint_change();
DROP TABLE replay_jobs;
DROP TABLE api_keys;
DROP TABLE encryption_key_check;
DROP TABLE endpoint_secrets;
DROP TABLE endpoints;
