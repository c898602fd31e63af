package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

const replayColumns = `id, idempotency_key, filter, force, state, total, replayed, skipped, failed, error,
	created_by, created_at, updated_at, finished_at`

func scanReplayJob(row scanner) (domain.ReplayJob, error) {
	var (
		j                domain.ReplayJob
		filter           string
		created, updated int64
		finished         sql.NullInt64
	)
	err := row.Scan(&j.ID, &j.IdempotencyKey, &filter, &j.Force, &j.State, &j.Total, &j.Replayed, &j.Skipped, &j.Failed,
		&j.Error, &j.CreatedBy, &created, &updated, &finished)
	if err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(filter), &j.Filter); err != nil {
		return j, fmt.Errorf("replay job %s filter: %w", j.ID, err)
	}
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = fromMicros(created), fromMicros(updated), timePtr(finished, fromMicros)
	j.Filter.Since, j.Filter.Until = j.Filter.Since.UTC(), j.Filter.Until.UTC()
	return j, nil
}

// CreateReplayJob stores job, unless a job with the same non-empty
// IdempotencyKey exists: then that job is returned with created false.
// CreatedAt is set if zero and UpdatedAt starts equal to it.
func (db *DB) CreateReplayJob(ctx context.Context, job domain.ReplayJob) (domain.ReplayJob, bool, error) {
	filter, err := jsonMarshal(job.Filter)
	if err != nil {
		return job, false, fmt.Errorf("replay job %s filter: %w", job.ID, err)
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = db.now()
	}
	var (
		stored  domain.ReplayJob
		created bool
	)
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		stored, err = scanReplayJob(tx.QueryRowContext(ctx, `INSERT INTO replay_jobs (id, idempotency_key, filter, force,
				state, total, replayed, skipped, failed, error, created_by, created_at, updated_at, finished_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)
			ON CONFLICT (idempotency_key) WHERE idempotency_key <> '' DO NOTHING
			RETURNING `+replayColumns,
			job.ID, job.IdempotencyKey, filter, job.Force, job.State, job.Total, job.Replayed, job.Skipped, job.Failed,
			job.Error, job.CreatedBy, micros(job.CreatedAt), nullTime(job.FinishedAt, micros)))
		switch {
		case err == nil:
			created = true
			return nil
		case isUniqueViolation(err):
			return fmt.Errorf("replay job %s: %w", job.ID, storage.ErrConflict)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("create replay job %s: %w", job.ID, err)
		}
		// The idempotency key is taken: return the job that holds it.
		stored, err = scanReplayJob(tx.QueryRowContext(ctx, `SELECT `+replayColumns+` FROM replay_jobs WHERE idempotency_key = ?`,
			job.IdempotencyKey))
		if err != nil {
			return fmt.Errorf("replay job with idempotency key: %w", err)
		}
		return nil
	})
	if err != nil {
		return job, false, err
	}
	return stored, created, nil
}

// GetReplayJob returns one job.
func (db *DB) GetReplayJob(ctx context.Context, id string) (domain.ReplayJob, error) {
	j, err := scanReplayJob(db.reader.QueryRowContext(ctx, `SELECT `+replayColumns+` FROM replay_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("replay job %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return j, fmt.Errorf("get replay job %s: %w", id, err)
	}
	return j, nil
}

// UpdateReplayJob stores the job's state, counters, error and finish
// time; UpdatedAt (the runner's heartbeat) is set by the store. A job
// already final is not changed: ErrConflict.
func (db *DB) UpdateReplayJob(ctx context.Context, job domain.ReplayJob) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE replay_jobs SET state = ?, total = ?, replayed = ?, skipped = ?, failed = ?,
				error = ?, updated_at = ?, finished_at = ?
			WHERE id = ? AND state NOT IN (?, ?, ?)`, job.State, job.Total, job.Replayed, job.Skipped, job.Failed, job.Error,
			micros(db.now()), nullTime(job.FinishedAt, micros), job.ID,
			domain.ReplayDone, domain.ReplayFailed, domain.ReplayCanceled)
		if err != nil {
			return fmt.Errorf("update replay job %s: %w", job.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("update replay job %s: %w", job.ID, err)
		}
		if n == 0 {
			return finalOrMissing(ctx, tx, job.ID)
		}
		return nil
	})
}

// finalOrMissing tells why a change of a job that must not be final
// matched no row: ErrNotFound, or ErrConflict naming its final state.
func finalOrMissing(ctx context.Context, tx *sql.Tx, id string) error {
	var state string
	err := tx.QueryRowContext(ctx, `SELECT state FROM replay_jobs WHERE id = ?`, id).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("replay job %s: %w", id, storage.ErrNotFound)
	case err != nil:
		return fmt.Errorf("replay job %s: %w", id, err)
	}
	return fmt.Errorf("replay job %s is already %s: %w", id, state, storage.ErrConflict)
}

// CancelReplayJob moves a pending or running job to canceled, finished at
// at, and returns it; a final job gives ErrConflict.
func (db *DB) CancelReplayJob(ctx context.Context, id string, at time.Time) (domain.ReplayJob, error) {
	var j domain.ReplayJob
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		j, err = scanReplayJob(tx.QueryRowContext(ctx, `UPDATE replay_jobs SET state = ?, finished_at = ?, updated_at = ?
			WHERE id = ? AND state IN (?, ?)
			RETURNING `+replayColumns, domain.ReplayCanceled, micros(at), micros(db.now()), id,
			domain.ReplayPending, domain.ReplayRunning))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return finalOrMissing(ctx, tx, id)
		case err != nil:
			return fmt.Errorf("cancel replay job %s: %w", id, err)
		}
		return nil
	})
	return j, err
}

// ClaimStaleReplayJob takes over the oldest pending or running job whose
// heartbeat is older than staleBefore. It is one statement on the single
// writer connection, so two callers never get the same job.
func (db *DB) ClaimStaleReplayJob(ctx context.Context, staleBefore, now time.Time) (domain.ReplayJob, bool, error) {
	j, err := scanReplayJob(db.writer.QueryRowContext(ctx, `UPDATE replay_jobs SET updated_at = ?1
		WHERE id = (
			SELECT id FROM replay_jobs
			WHERE state IN (?3, ?4) AND updated_at < ?2
			ORDER BY created_at, id
			LIMIT 1)
		RETURNING `+replayColumns, micros(now), micros(staleBefore), domain.ReplayPending, domain.ReplayRunning))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return domain.ReplayJob{}, false, nil
	case err != nil:
		return domain.ReplayJob{}, false, fmt.Errorf("claim stale replay job: %w", err)
	}
	return j, true, nil
}

// ListReplayJobs pages through jobs, newest first (ids sort by creation
// time).
func (db *DB) ListReplayJobs(ctx context.Context, p storage.PageRequest) (storage.Page[domain.ReplayJob], error) {
	page := storage.Page[domain.ReplayJob]{Items: []domain.ReplayJob{}}
	var cur idCursor
	if err := decodeCursor(p.Cursor, kindReplayJobs, &cur); err != nil {
		return page, err
	}
	size := p.Size()
	query := `SELECT ` + replayColumns + ` FROM replay_jobs ORDER BY id DESC LIMIT ?`
	args := []any{size + 1}
	if cur.After != "" {
		query = `SELECT ` + replayColumns + ` FROM replay_jobs WHERE id < ? ORDER BY id DESC LIMIT ?`
		args = []any{cur.After, size + 1}
	}
	items, err := queryAll(ctx, db.reader, query, args, scanReplayJob)
	if err != nil {
		return page, fmt.Errorf("list replay jobs: %w", err)
	}
	if len(items) > size {
		items = items[:size]
		page.NextCursor = encodeCursor(kindReplayJobs, idCursor{After: items[size-1].ID})
	}
	page.Items = append(page.Items, items...)
	return page, nil
}
