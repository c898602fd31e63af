package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

const replayColumns = `id, idempotency_key, filter, force, state, total, replayed, skipped, failed, error,
	created_by, created_at, updated_at, finished_at`

func scanReplayJob(row pgx.Row) (domain.ReplayJob, error) {
	var (
		j      domain.ReplayJob
		filter []byte
	)
	err := row.Scan(&j.ID, &j.IdempotencyKey, &filter, &j.Force, &j.State, &j.Total, &j.Replayed, &j.Skipped, &j.Failed,
		&j.Error, &j.CreatedBy, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt)
	if err != nil {
		return j, err
	}
	if err := unmarshalNonEmpty(filter, &j.Filter); err != nil {
		return j, fmt.Errorf("replay job %s filter: %w", j.ID, err)
	}
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC(), utcPtr(j.FinishedAt)
	j.Filter.Since, j.Filter.Until = j.Filter.Since.UTC(), j.Filter.Until.UTC()
	return j, nil
}

// CreateReplayJob stores job unless its idempotency key was used before.
func (s *Store) CreateReplayJob(ctx context.Context, job domain.ReplayJob) (domain.ReplayJob, bool, error) {
	filter, err := json.Marshal(job.Filter)
	if err != nil {
		return job, false, err
	}
	now := s.timestamp()
	if job.CreatedAt.IsZero() {
		job.CreatedAt = now
	}
	job.CreatedAt = job.CreatedAt.UTC().Truncate(time.Microsecond)
	job.UpdatedAt = job.CreatedAt
	stored, err := scanReplayJob(s.pool.QueryRow(ctx, `INSERT INTO replay_jobs (id, idempotency_key, filter, force, state, total,
			replayed, skipped, failed, error, created_by, created_at, updated_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)
		ON CONFLICT (idempotency_key) WHERE idempotency_key <> '' DO NOTHING
		RETURNING `+replayColumns,
		job.ID, job.IdempotencyKey, filter, job.Force, job.State, job.Total, job.Replayed, job.Skipped, job.Failed,
		job.Error, job.CreatedBy, job.CreatedAt, job.FinishedAt))
	switch {
	case err == nil:
		return stored, true, nil
	case isUniqueViolation(err):
		return job, false, fmt.Errorf("replay job %s: %w", job.ID, storage.ErrConflict)
	case !errors.Is(err, pgx.ErrNoRows):
		return job, false, fmt.Errorf("create replay job: %w", err)
	}
	existing, err := scanReplayJob(s.pool.QueryRow(ctx, `SELECT `+replayColumns+` FROM replay_jobs WHERE idempotency_key = $1`, job.IdempotencyKey))
	if err != nil {
		return job, false, fmt.Errorf("replay job with idempotency key: %w", err)
	}
	return existing, false, nil
}

// GetReplayJob returns one job.
func (s *Store) GetReplayJob(ctx context.Context, id string) (domain.ReplayJob, error) {
	j, err := scanReplayJob(s.pool.QueryRow(ctx, `SELECT `+replayColumns+` FROM replay_jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return j, fmt.Errorf("replay job %s: %w", id, storage.ErrNotFound)
	}
	return j, err
}

// UpdateReplayJob stores progress and state and sets updated_at (the
// runner's heartbeat), unless the job is already final: then it returns
// ErrConflict. A final state is never left, so when the update matches no
// row, a look at the job tells the two refusals apart without a race.
func (s *Store) UpdateReplayJob(ctx context.Context, job domain.ReplayJob) error {
	tag, err := s.pool.Exec(ctx, `UPDATE replay_jobs SET state = $2, total = $3, replayed = $4, skipped = $5, failed = $6,
			error = $7, updated_at = $8, finished_at = $9
		WHERE id = $1 AND state NOT IN ($10, $11, $12)`, job.ID, job.State, job.Total, job.Replayed, job.Skipped, job.Failed,
		job.Error, s.timestamp(), utcPtr(job.FinishedAt), domain.ReplayDone, domain.ReplayFailed, domain.ReplayCanceled)
	if err != nil {
		return fmt.Errorf("update replay job %s: %w", job.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return s.finalOrMissing(ctx, job.ID)
	}
	return nil
}

// finalOrMissing tells why a change of a job that must not be final
// matched no row: ErrNotFound, or ErrConflict naming its final state.
func (s *Store) finalOrMissing(ctx context.Context, id string) error {
	var state string
	err := s.pool.QueryRow(ctx, `SELECT state FROM replay_jobs WHERE id = $1`, id).Scan(&state)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("replay job %s: %w", id, storage.ErrNotFound)
	case err != nil:
		return fmt.Errorf("replay job %s: %w", id, err)
	}
	return fmt.Errorf("replay job %s is already %s: %w", id, state, storage.ErrConflict)
}

// CancelReplayJob moves a pending or running job to canceled, finished at
// at, and returns it; a final job gives ErrConflict.
func (s *Store) CancelReplayJob(ctx context.Context, id string, at time.Time) (domain.ReplayJob, error) {
	j, err := scanReplayJob(s.pool.QueryRow(ctx, `UPDATE replay_jobs SET state = $2, finished_at = $3, updated_at = $4
		WHERE id = $1 AND state IN ($5, $6)
		RETURNING `+replayColumns, id, domain.ReplayCanceled, at.UTC().Truncate(time.Microsecond), s.timestamp(),
		domain.ReplayPending, domain.ReplayRunning))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return j, s.finalOrMissing(ctx, id)
	case err != nil:
		return j, fmt.Errorf("cancel replay job %s: %w", id, err)
	}
	return j, nil
}

// ClaimStaleReplayJob takes over the oldest pending or running job whose
// heartbeat is older than staleBefore, in one statement: the row is locked
// with SKIP LOCKED, so concurrent claimers pass over each other's
// candidate, and a claimer that reaches a row just claimed by another
// re-checks it, finds it fresh and moves on. Two callers never get one job.
func (s *Store) ClaimStaleReplayJob(ctx context.Context, staleBefore, now time.Time) (domain.ReplayJob, bool, error) {
	j, err := scanReplayJob(s.pool.QueryRow(ctx, `UPDATE replay_jobs SET updated_at = $2
		WHERE id = (
			SELECT id FROM replay_jobs
			WHERE state IN ($3, $4) AND updated_at < $1
			ORDER BY created_at, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED)
		AND state IN ($3, $4) AND updated_at < $1
		RETURNING `+replayColumns, staleBefore.UTC(), now.UTC().Truncate(time.Microsecond),
		domain.ReplayPending, domain.ReplayRunning))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return domain.ReplayJob{}, false, nil
	case err != nil:
		return domain.ReplayJob{}, false, fmt.Errorf("claim stale replay job: %w", err)
	}
	return j, true, nil
}

// ListReplayJobs pages through jobs, newest first (ids sort by time).
func (s *Store) ListReplayJobs(ctx context.Context, p storage.PageRequest) (storage.Page[domain.ReplayJob], error) {
	var page storage.Page[domain.ReplayJob]
	var cur idCursor
	if p.Cursor != "" {
		if err := storage.DecodeCursor(p.Cursor, &cur); err != nil {
			return page, err
		}
	}
	size := p.Size()
	rows, err := s.pool.Query(ctx, `SELECT `+replayColumns+` FROM replay_jobs
		WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2`, cur.After, size+1)
	if err != nil {
		return page, fmt.Errorf("list replay jobs: %w", err)
	}
	return collectPage(rows, scanReplayJob, size, func(v domain.ReplayJob) string { return v.ID }, "list replay jobs")
}
