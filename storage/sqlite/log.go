package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// neverExpires is the expires_at of records kept forever (a zero
// retention, as a Cassandra TTL of 0).
const neverExpires = math.MaxInt64

// expiresAt is when a record of time t, written at now, expires under
// retention r, in unix milliseconds. As with the Cassandra backend's TTL,
// retention counts from the record's own time, so a log writer catching
// up after an outage does not keep old records longer than promised; and
// it never runs past now+r, so a record dated in the future (a skewed
// clock) is not kept longer either. The result may be in the past: such a
// record is not written at all.
func expiresAt(t, now time.Time, r time.Duration) int64 {
	if r <= 0 {
		return neverExpires
	}
	ms := max(r.Milliseconds(), 1)
	return min(addMillis(millis(t), ms), addMillis(millis(now), ms))
}

// addMillis adds without overflowing: a time too far out is kept forever.
func addMillis(at, ms int64) int64 {
	if at > neverExpires-ms {
		return neverExpires
	}
	return at + ms
}

// listQuery builds a newest-first keyset query from fixed SQL fragments;
// only values travel as arguments.
type listQuery struct {
	where []string
	args  []any
}

func (q *listQuery) add(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// sql returns the query; order is the ORDER BY clause (the list's key
// columns, descending).
func (q *listQuery) sql(columns, table, order string, limit int) (string, []any) {
	s := `SELECT ` + columns + ` FROM ` + table + ` WHERE ` + strings.Join(q.where, " AND ") +
		` ORDER BY ` + order + ` LIMIT ?`
	return s, append(q.args, limit)
}

// Attempts.

const attemptColumns = `id, delivery_id, event_id, event_type, endpoint_id, tenant_id, generation, attempt_number,
	started_at, duration_ns, status_code, outcome, error, request_headers, response_headers, response_body,
	response_body_sha256, response_body_size, next_retry_at`

func scanAttempt(row scanner) (domain.Attempt, error) {
	var (
		a                  domain.Attempt
		started, duration  int64
		outcome, req, resp string
		nextRetry          sql.NullInt64
	)
	err := row.Scan(&a.ID, &a.DeliveryID, &a.EventID, &a.EventType, &a.EndpointID, &a.TenantID, &a.Generation,
		&a.AttemptNumber, &started, &duration, &a.StatusCode, &outcome, &a.Error, &req, &resp, &a.ResponseBody,
		&a.ResponseBodySHA256, &a.ResponseBodySize, &nextRetry)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(req), &a.RequestHeaders); err != nil {
		return a, fmt.Errorf("attempt %s request headers: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(resp), &a.ResponseHeaders); err != nil {
		return a, fmt.Errorf("attempt %s response headers: %w", a.ID, err)
	}
	a.Outcome = domain.Outcome(outcome)
	a.StartedAt, a.Duration, a.NextRetryAt = fromMillis(started), time.Duration(duration), timePtr(nextRetry, fromMillis)
	return a, nil
}

// WriteAttempts stores attempts in one transaction; an attempt written
// again (same ID) replaces the first. Attempts already past their
// retention are not written (and do not replace what is stored).
func (db *DB) WriteAttempts(ctx context.Context, attempts []domain.Attempt) error {
	now := db.now()
	live := make([]int64, len(attempts))
	n := 0
	for i := range attempts {
		live[i] = expiresAt(attempts[i].StartedAt, now, db.retention.For(attempts[i].Outcome))
		if live[i] > millis(now) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO attempts (id, delivery_id, event_id, event_type, endpoint_id,
				tenant_id, generation, attempt_number, started_at, duration_ns, status_code, outcome, error,
				request_headers, response_headers, response_body, response_body_sha256, response_body_size,
				next_retry_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET delivery_id = excluded.delivery_id, event_id = excluded.event_id,
				event_type = excluded.event_type, endpoint_id = excluded.endpoint_id, tenant_id = excluded.tenant_id,
				generation = excluded.generation, attempt_number = excluded.attempt_number,
				started_at = excluded.started_at, duration_ns = excluded.duration_ns,
				status_code = excluded.status_code, outcome = excluded.outcome, error = excluded.error,
				request_headers = excluded.request_headers, response_headers = excluded.response_headers,
				response_body = excluded.response_body, response_body_sha256 = excluded.response_body_sha256,
				response_body_size = excluded.response_body_size, next_retry_at = excluded.next_retry_at,
				expires_at = excluded.expires_at`)
		if err != nil {
			return fmt.Errorf("write attempts: %w", err)
		}
		defer stmt.Close()
		for i := range attempts {
			a := &attempts[i]
			if live[i] <= millis(now) {
				continue
			}
			req, err := jsonMarshal(a.RequestHeaders)
			if err != nil {
				return fmt.Errorf("attempt %s request headers: %w", a.ID, err)
			}
			resp, err := jsonMarshal(a.ResponseHeaders)
			if err != nil {
				return fmt.Errorf("attempt %s response headers: %w", a.ID, err)
			}
			if _, err := stmt.ExecContext(ctx, a.ID, a.DeliveryID, a.EventID, a.EventType, a.EndpointID, a.TenantID,
				a.Generation, a.AttemptNumber, millis(a.StartedAt), int64(a.Duration), a.StatusCode, string(a.Outcome),
				a.Error, req, resp, a.ResponseBody, a.ResponseBodySHA256, a.ResponseBodySize,
				nullTime(a.NextRetryAt, millis), live[i]); err != nil {
				return fmt.Errorf("write attempt %s: %w", a.ID, err)
			}
		}
		return nil
	})
}

// ListAttempts pages through unexpired attempts matching f, newest first
// (by StartedAt, ties by id). A cursor is only valid with its filter.
func (db *DB) ListAttempts(ctx context.Context, f domain.AttemptFilter, p storage.PageRequest) (storage.Page[domain.Attempt], error) {
	page := storage.Page[domain.Attempt]{Items: []domain.Attempt{}}
	fp := fingerprint("attempts", f.EndpointID, f.TenantID, f.EventType, string(f.Outcome), timeKey(f.Since), timeKey(f.Until))
	var cur *attemptCursor
	if p.Cursor != "" {
		var c attemptCursor
		if err := decodeCursor(p.Cursor, kindAttempts, &c); err != nil {
			return page, err
		}
		if c.F != fp {
			return page, fmt.Errorf("cursor of a list with another filter: %w", storage.ErrInvalidCursor)
		}
		cur = &c
	}
	size := p.Size()
	query, args := attemptsListSQL(f, cur, millis(db.now()), size+1)
	items, err := queryAll(ctx, db.reader, query, args, scanAttempt)
	if err != nil {
		return page, fmt.Errorf("list attempts: %w", err)
	}
	if len(items) > size {
		items = items[:size]
		last := items[size-1]
		page.NextCursor = encodeCursor(kindAttempts, attemptCursor{T: millis(last.StartedAt), ID: last.ID, F: fp})
	}
	page.Items = append(page.Items, items...)
	return page, nil
}

// attemptsListSQL builds the ListAttempts query: only the conditions of
// the filter's non-zero fields, so the planner can pick the index that
// matches them.
func attemptsListSQL(f domain.AttemptFilter, cur *attemptCursor, now int64, limit int) (string, []any) {
	var q listQuery
	q.add("expires_at > ?", now)
	if f.EndpointID != "" {
		q.add("endpoint_id = ?", f.EndpointID)
	}
	if f.TenantID != "" {
		q.add("tenant_id = ?", f.TenantID)
	}
	if f.EventType != "" {
		q.add("event_type = ?", f.EventType)
	}
	if f.Outcome != "" {
		q.add("outcome = ?", string(f.Outcome))
	}
	if !f.Since.IsZero() {
		q.add("started_at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		q.add("started_at < ?", millis(f.Until))
	}
	if cur != nil {
		q.add("(started_at, id) < (?, ?)", cur.T, cur.ID)
	}
	return q.sql(attemptColumns, "attempts", "started_at DESC, id DESC", limit)
}

// DeliveryAttempts returns the unexpired attempts of one delivery, oldest
// first (by StartedAt, then generation, attempt number and id).
func (db *DB) DeliveryAttempts(ctx context.Context, deliveryID string) ([]domain.Attempt, error) {
	items, err := queryAll(ctx, db.reader, `SELECT `+attemptColumns+` FROM attempts
		WHERE delivery_id = ? AND expires_at > ?
		ORDER BY started_at, generation, attempt_number, id`, []any{deliveryID, millis(db.now())}, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("attempts of delivery %s: %w", deliveryID, err)
	}
	return append([]domain.Attempt{}, items...), nil
}

// eventDeliveriesSQL lists the distinct deliveries of an event's
// unexpired attempts: one range of attempts_event, which holds every
// column read, already in delivery order (see TestQueryPlans).
const eventDeliveriesSQL = `SELECT DISTINCT delivery_id, endpoint_id FROM attempts
	WHERE event_id = ? AND expires_at > ?
	ORDER BY delivery_id, endpoint_id LIMIT ?`

// EventDeliveries returns the deliveries of an event's unexpired
// attempts, each once, by delivery id; at most storage.MaxEventDeliveries.
func (db *DB) EventDeliveries(ctx context.Context, eventID string) ([]storage.EventDelivery, error) {
	items, err := queryAll(ctx, db.reader, eventDeliveriesSQL, []any{eventID, millis(db.now()), storage.MaxEventDeliveries},
		func(row scanner) (storage.EventDelivery, error) {
			var d storage.EventDelivery
			err := row.Scan(&d.DeliveryID, &d.EndpointID)
			return d, err
		})
	if err != nil {
		return nil, fmt.Errorf("deliveries of event %s: %w", eventID, err)
	}
	return append([]storage.EventDelivery{}, items...), nil
}

// Dead letters.

const deadLetterColumns = `endpoint_id, delivery_id, event_id, event_type, tenant_id, reason, last_error,
	last_status_code, attempts, generation, dead_at, payload, replayed_at`

func scanDeadLetter(row scanner) (domain.DeadLetter, error) {
	var (
		d        domain.DeadLetter
		deadAt   int64
		replayed sql.NullInt64
	)
	err := row.Scan(&d.EndpointID, &d.DeliveryID, &d.EventID, &d.EventType, &d.TenantID, &d.Reason, &d.LastError,
		&d.LastStatusCode, &d.Attempts, &d.Generation, &deadAt, &d.Payload, &replayed)
	if err != nil {
		return d, err
	}
	d.DeadAt, d.ReplayedAt = fromMillis(deadAt), timePtr(replayed, fromMillis)
	return d, nil
}

// PutDeadLetters stores dead letters in one transaction; a dead letter
// stored again (same endpoint and delivery) replaces the first. Dead
// letters already past their retention are not written.
func (db *DB) PutDeadLetters(ctx context.Context, dls []domain.DeadLetter) error {
	now := db.now()
	live := make([]int64, len(dls))
	n := 0
	for i := range dls {
		live[i] = expiresAt(dls[i].DeadAt, now, db.retention.DeadLetters)
		if live[i] > millis(now) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO dead_letters (endpoint_id, delivery_id, event_id, event_type,
				tenant_id, reason, last_error, last_status_code, attempts, generation, dead_at, payload, replayed_at,
				expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (endpoint_id, delivery_id) DO UPDATE SET event_id = excluded.event_id,
				event_type = excluded.event_type, tenant_id = excluded.tenant_id, reason = excluded.reason,
				last_error = excluded.last_error, last_status_code = excluded.last_status_code,
				attempts = excluded.attempts, generation = excluded.generation, dead_at = excluded.dead_at,
				payload = excluded.payload, replayed_at = excluded.replayed_at, expires_at = excluded.expires_at`)
		if err != nil {
			return fmt.Errorf("put dead letters: %w", err)
		}
		defer stmt.Close()
		for i := range dls {
			d := &dls[i]
			if live[i] <= millis(now) {
				continue
			}
			if _, err := stmt.ExecContext(ctx, d.EndpointID, d.DeliveryID, d.EventID, d.EventType, d.TenantID, d.Reason,
				d.LastError, d.LastStatusCode, d.Attempts, d.Generation, millis(d.DeadAt), d.Payload,
				nullTime(d.ReplayedAt, millis), live[i]); err != nil {
				return fmt.Errorf("put dead letter %s/%s: %w", d.EndpointID, d.DeliveryID, err)
			}
		}
		return nil
	})
}

// GetDeadLetter returns one unexpired dead letter.
func (db *DB) GetDeadLetter(ctx context.Context, endpointID, deliveryID string) (domain.DeadLetter, error) {
	d, err := scanDeadLetter(db.reader.QueryRowContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters
		WHERE endpoint_id = ? AND delivery_id = ? AND expires_at > ?`, endpointID, deliveryID, millis(db.now())))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("dead letter %s/%s: %w", endpointID, deliveryID, storage.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("get dead letter %s/%s: %w", endpointID, deliveryID, err)
	}
	return d, nil
}

// ListDeadLetters pages through unexpired dead letters matching f, newest
// first (by DeadAt, ties by endpoint and delivery id). Since and Until
// bound DeadAt (Since inclusive, Until exclusive), as they bound StartedAt
// for attempts. A cursor is only valid with its filter.
func (db *DB) ListDeadLetters(ctx context.Context, f domain.DeadLetterFilter, p storage.PageRequest) (storage.Page[domain.DeadLetter], error) {
	page := storage.Page[domain.DeadLetter]{Items: []domain.DeadLetter{}}
	fp := fingerprint("dead_letters", f.EndpointID, f.TenantID, f.EventType, f.Reason, timeKey(f.Since), timeKey(f.Until))
	var cur *deadLetterCursor
	if p.Cursor != "" {
		var c deadLetterCursor
		if err := decodeCursor(p.Cursor, kindDeadLetters, &c); err != nil {
			return page, err
		}
		if c.F != fp {
			return page, fmt.Errorf("cursor of a list with another filter: %w", storage.ErrInvalidCursor)
		}
		cur = &c
	}
	size := p.Size()
	query, args := deadLettersListSQL(f, cur, millis(db.now()), size+1)
	items, err := queryAll(ctx, db.reader, query, args, scanDeadLetter)
	if err != nil {
		return page, fmt.Errorf("list dead letters: %w", err)
	}
	if len(items) > size {
		items = items[:size]
		last := items[size-1]
		page.NextCursor = encodeCursor(kindDeadLetters, deadLetterCursor{T: millis(last.DeadAt), E: last.EndpointID, D: last.DeliveryID, F: fp})
	}
	page.Items = append(page.Items, items...)
	return page, nil
}

// deadLettersListSQL builds the ListDeadLetters query (see
// attemptsListSQL).
func deadLettersListSQL(f domain.DeadLetterFilter, cur *deadLetterCursor, now int64, limit int) (string, []any) {
	var q listQuery
	q.add("expires_at > ?", now)
	if f.EndpointID != "" {
		q.add("endpoint_id = ?", f.EndpointID)
	}
	if f.TenantID != "" {
		q.add("tenant_id = ?", f.TenantID)
	}
	if f.EventType != "" {
		q.add("event_type = ?", f.EventType)
	}
	if f.Reason != "" {
		q.add("reason = ?", f.Reason)
	}
	if !f.Since.IsZero() {
		q.add("dead_at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		q.add("dead_at < ?", millis(f.Until))
	}
	if cur != nil {
		q.add("(dead_at, endpoint_id, delivery_id) < (?, ?, ?)", cur.T, cur.E, cur.D)
	}
	return q.sql(deadLetterColumns, "dead_letters", "dead_at DESC, endpoint_id DESC, delivery_id DESC", limit)
}

// MarkReplayed records that a dead letter was replayed at time at (now,
// if at is zero). The dead letter keeps its retention.
func (db *DB) MarkReplayed(ctx context.Context, endpointID, deliveryID string, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	return db.changeDeadLetter(ctx, "mark replayed", endpointID, deliveryID,
		`UPDATE dead_letters SET replayed_at = ? WHERE endpoint_id = ? AND delivery_id = ? AND expires_at > ?`, millis(at))
}

// DiscardDeadLetter removes a dead letter.
func (db *DB) DiscardDeadLetter(ctx context.Context, endpointID, deliveryID string) error {
	return db.changeDeadLetter(ctx, "discard", endpointID, deliveryID,
		`DELETE FROM dead_letters WHERE endpoint_id = ? AND delivery_id = ? AND expires_at > ?`)
}

// changeDeadLetter runs query (args, then endpoint, delivery and now) and
// reports ErrNotFound when no unexpired dead letter matched.
func (db *DB) changeDeadLetter(ctx context.Context, op, endpointID, deliveryID, query string, args ...any) error {
	res, err := db.writer.ExecContext(ctx, query, append(args, endpointID, deliveryID, millis(db.now()))...)
	if err != nil {
		return fmt.Errorf("%s dead letter %s/%s: %w", op, endpointID, deliveryID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s dead letter %s/%s: %w", op, endpointID, deliveryID, err)
	}
	if n == 0 {
		return fmt.Errorf("dead letter %s/%s: %w", endpointID, deliveryID, storage.ErrNotFound)
	}
	return nil
}

// Purge.

// Purge deletes expired attempts, dead letters and event keys, in
// transactions of at most Options.PurgeBatch rows so the writer is never
// held for long, and returns how many rows it deleted. Reads already skip
// expired log rows, and a claim takes over an expired event key; the
// purge only reclaims their space.
func (db *DB) Purge(ctx context.Context) (int64, error) {
	var total int64
	for _, q := range []struct {
		table, query string
		now          func(time.Time) int64 // the table's time unit
	}{
		{"attempts", `DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE expires_at <= ? LIMIT ?)`, millis},
		{"dead_letters", `DELETE FROM dead_letters WHERE rowid IN (SELECT rowid FROM dead_letters WHERE expires_at <= ? LIMIT ?)`, millis},
		{"event_keys", `DELETE FROM event_keys WHERE rowid IN (SELECT rowid FROM event_keys WHERE expires_at <= ? LIMIT ?)`, micros},
	} {
		table := q.table
		for {
			res, err := db.writer.ExecContext(ctx, q.query, q.now(db.now()), db.purgeBatch)
			if err != nil {
				return total, fmt.Errorf("purge %s: %w", table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("purge %s: %w", table, err)
			}
			total += n
			if n < int64(db.purgeBatch) {
				break
			}
		}
	}
	return total, nil
}

// purgeLoop runs Purge every interval until ctx ends. A failed purge is
// retried at the next tick: expired rows are dead anyway, so the only cost
// of a late purge is disk space.
func (db *DB) purgeLoop(ctx context.Context, interval time.Duration) {
	defer close(db.purgeDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := db.Purge(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				db.log.WarnContext(ctx, "sqlite: purge of expired log rows failed; retrying at the next interval",
					"deleted", n, "error", err)
			case n > 0:
				db.log.DebugContext(ctx, "sqlite: purged expired log rows", "deleted", n)
			}
		}
	}
}
