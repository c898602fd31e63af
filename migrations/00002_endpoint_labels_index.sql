-- +goose NO TRANSACTION
-- +goose Up
-- Label filters (`?label=team:billing`) use containment on the labels
-- document. Built concurrently: the endpoints table may be large.
CREATE INDEX CONCURRENTLY IF NOT EXISTS endpoints_labels_idx ON endpoints USING gin (labels jsonb_path_ops);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS endpoints_labels_idx;
