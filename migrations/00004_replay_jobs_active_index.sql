-- +goose NO TRANSACTION
-- +goose Up
-- Every daemon looks for stale replay jobs to take over now and then
-- (ClaimStaleReplayJob). Finished jobs are kept for their history and
-- outnumber the active ones more and more; this partial index holds only
-- the active jobs, in the order they are taken over, so the look-up does
-- not read the whole history. Built concurrently, as replay_jobs may be
-- large by now.
CREATE INDEX CONCURRENTLY IF NOT EXISTS replay_jobs_active_idx ON replay_jobs (created_at, id)
    WHERE state IN ('pending', 'running');

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS replay_jobs_active_idx;
