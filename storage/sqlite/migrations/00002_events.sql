-- +goose Up
-- What GET /v1/events/{id} and POST /v1/events need: the deliveries of an
-- event, and the keys under which events were published.

-- The deliveries of an event (EventDeliveries) are the distinct
-- (delivery_id, endpoint_id) of its attempts. The index holds every column
-- the query reads, in the order it returns them, so it is one index range
-- with no table look-up and no sort, however many attempts a delivery has.
CREATE INDEX attempts_event ON attempts (event_id, delivery_id, endpoint_id, expires_at);

-- Event keys (Idempotency-Key headers, event ids), each held by one event
-- until expires_at (unix microseconds, like every configuration time). An
-- expired row is taken over in place by the next claim of its key; the
-- purge deletes the rest, through event_keys_expires.
CREATE TABLE event_keys (
    key        TEXT    PRIMARY KEY CHECK (length(CAST(key AS BLOB)) BETWEEN 1 AND 255),
    event_id   TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX event_keys_expires ON event_keys (expires_at);

-- Stale replay jobs are looked for among the active ones only.
CREATE INDEX replay_jobs_active ON replay_jobs (created_at, id) WHERE state IN ('pending', 'running');

-- +goose Down
DROP INDEX replay_jobs_active;
DROP TABLE event_keys;
DROP INDEX attempts_event;
