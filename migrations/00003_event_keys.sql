-- +goose Up
-- The keys (Idempotency-Key headers, event ids) under which POST /v1/events
-- published an event, so that a repeated request publishes nothing. A key
-- is held until expires_at; an expired row is taken over in place by the
-- next claim of its key, so a claim is one INSERT ... ON CONFLICT.
--
-- The key is the primary key: the unique index is what makes two
-- concurrent claims of one key serialize, whichever daemon runs them. Keys
-- are bounded here as well as in the API, so an oversized key can never
-- bloat the index.
CREATE TABLE event_keys (
    key        text        PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 255),
    event_id   text        NOT NULL,
    claimed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Rows of keys that are never used again would otherwise stay forever:
-- the store deletes expired rows in small batches (oldest first, through
-- this index) as claims go by, rather than in a job of its own.
CREATE INDEX event_keys_expires_idx ON event_keys (expires_at);

-- +goose Down
DROP TABLE event_keys;
