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

// UpdateReplayJob stores progress and state.
func (s *Store) UpdateReplayJob(ctx context.Context, job domain.ReplayJob) error {
	tag, err := s.pool.Exec(ctx, `UPDATE replay_jobs SET state = $2, total = $3, replayed = $4, skipped = $5, failed = $6,
			error = $7, updated_at = $8, finished_at = $9
		WHERE id = $1`, job.ID, job.State, job.Total, job.Replayed, job.Skipped, job.Failed, job.Error, s.timestamp(), utcPtr(job.FinishedAt))
	if err != nil {
		return fmt.Errorf("update replay job %s: %w", job.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("replay job %s: %w", job.ID, storage.ErrNotFound)
	}
	return nil
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
