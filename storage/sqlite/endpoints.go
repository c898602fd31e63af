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

const endpointColumns = `id, tenant_id, url, description, event_types, headers, signing_scheme, retry_policy,
	rate_limit, max_concurrency, timeout_ns, success_status_codes, enabled, disabled_reason, labels,
	created_by, updated_by, created_at, updated_at, version`

func scanEndpoint(row scanner) (domain.Endpoint, error) {
	var (
		e                                   domain.Endpoint
		types, headers, retry, codes, label string
		timeout, created, updated           int64
	)
	err := row.Scan(&e.ID, &e.TenantID, &e.URL, &e.Description, &types, &headers, &e.SigningScheme, &retry,
		&e.RateLimit, &e.MaxConcurrency, &timeout, &codes, &e.Enabled, &e.DisabledReason, &label,
		&e.CreatedBy, &e.UpdatedBy, &created, &updated, &e.Version)
	if err != nil {
		return e, err
	}
	for _, c := range []struct {
		name string
		src  string
		dst  any
	}{
		{"event types", types, &e.EventTypes},
		{"headers", headers, &e.Headers},
		{"retry policy", retry, &e.RetryPolicy},
		{"success status codes", codes, &e.SuccessStatusCodes},
		{"labels", label, &e.Labels},
	} {
		if err := json.Unmarshal([]byte(c.src), c.dst); err != nil {
			return e, fmt.Errorf("endpoint %s %s: %w", e.ID, c.name, err)
		}
	}
	e.Timeout = time.Duration(timeout)
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return e, nil
}

// endpointArgs returns the mutable columns of e, in endpointColumns order
// from tenant_id to labels.
func endpointArgs(e *domain.Endpoint) ([]any, error) {
	if math.IsNaN(e.RateLimit) {
		// SQLite stores NaN as NULL; refuse rather than lose the value.
		return nil, fmt.Errorf("endpoint %s: rate limit is not a number", e.ID)
	}
	var (
		out  = make([]any, 0, 14)
		docs = make([]string, 5)
	)
	for i, v := range []any{e.EventTypes, e.Headers, e.RetryPolicy, e.SuccessStatusCodes, e.Labels} {
		b, err := jsonMarshal(v)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", e.ID, err)
		}
		docs[i] = b
	}
	out = append(out, e.TenantID, e.URL, e.Description, docs[0], docs[1], e.SigningScheme, docs[2],
		e.RateLimit, e.MaxConcurrency, int64(e.Timeout), docs[3], e.Enabled, e.DisabledReason, docs[4])
	return out, nil
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// CreateEndpoint stores e with its first secret in one transaction and
// sets e's CreatedAt, UpdatedAt, UpdatedBy and Version. An invalid
// endpoint is refused with its *domain.ValidationError.
func (db *DB) CreateEndpoint(ctx context.Context, e *domain.Endpoint, secret domain.EndpointSecret) error {
	if err := e.Validate(); err != nil {
		return err
	}
	args, err := endpointArgs(e)
	if err != nil {
		return err
	}
	now := fromMicros(micros(db.now()))
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO endpoints (id, tenant_id, url, description, event_types, headers,
				signing_scheme, retry_policy, rate_limit, max_concurrency, timeout_ns, success_status_codes, enabled,
				disabled_reason, labels, created_by, updated_by, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			append(append([]any{e.ID}, args...), e.CreatedBy, e.CreatedBy, micros(now), micros(now))...)
		if err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("endpoint %s: %w", e.ID, storage.ErrConflict)
			}
			return fmt.Errorf("create endpoint %s: %w", e.ID, err)
		}
		secret.EndpointID = e.ID
		return db.insertSecret(ctx, tx, secret)
	})
	if err != nil {
		return err
	}
	e.CreatedAt, e.UpdatedAt, e.UpdatedBy, e.Version = now, now, e.CreatedBy, 1
	db.hub.publish(e.ID)
	return nil
}

// GetEndpoint returns one endpoint.
func (db *DB) GetEndpoint(ctx context.Context, id string) (domain.Endpoint, error) {
	e, err := scanEndpoint(db.reader.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	return e, nil
}

// ListEndpoints pages through endpoints in id (creation) order. Each
// label of the filter must be present with the same value.
func (db *DB) ListEndpoints(ctx context.Context, f storage.EndpointFilter, p storage.PageRequest) (storage.Page[domain.Endpoint], error) {
	page := storage.Page[domain.Endpoint]{Items: []domain.Endpoint{}}
	var cur idCursor
	if err := decodeCursor(p.Cursor, kindEndpoints, &cur); err != nil {
		return page, err
	}
	var (
		where = []string{"id > ?"}
		args  = []any{cur.After}
	)
	if f.TenantID != "" {
		where = append(where, "tenant_id = ?")
		args = append(args, f.TenantID)
	}
	for k, v := range f.Labels {
		where = append(where, "EXISTS (SELECT 1 FROM json_each(endpoints.labels) WHERE json_each.key = ? AND json_each.value = ?)")
		args = append(args, k, v)
	}
	size := p.Size()
	query := `SELECT ` + endpointColumns + ` FROM endpoints WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ?`
	items, err := queryAll(ctx, db.reader, query, append(args, size+1), scanEndpoint)
	if err != nil {
		return page, fmt.Errorf("list endpoints: %w", err)
	}
	if len(items) > size {
		items = items[:size]
		page.NextCursor = encodeCursor(kindEndpoints, idCursor{After: items[size-1].ID})
	}
	page.Items = append(page.Items, items...)
	return page, nil
}

// UpdateEndpoint replaces the mutable fields of e.ID if e.Version is the
// stored version. The single writer makes the check and the write atomic:
// of two updates naming the same version, exactly one wins. An invalid
// endpoint is refused with its *domain.ValidationError.
func (db *DB) UpdateEndpoint(ctx context.Context, e domain.Endpoint) (domain.Endpoint, error) {
	if err := e.Validate(); err != nil {
		return e, err
	}
	args, err := endpointArgs(&e)
	if err != nil {
		return e, err
	}
	var updated domain.Endpoint
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		updated, err = scanEndpoint(tx.QueryRowContext(ctx, `UPDATE endpoints SET tenant_id = ?, url = ?, description = ?,
				event_types = ?, headers = ?, signing_scheme = ?, retry_policy = ?, rate_limit = ?, max_concurrency = ?,
				timeout_ns = ?, success_status_codes = ?, enabled = ?, disabled_reason = ?, labels = ?, updated_by = ?,
				updated_at = ?, version = version + 1
			WHERE id = ? AND version = ?
			RETURNING `+endpointColumns,
			append(args, e.UpdatedBy, micros(db.now()), e.ID, e.Version)...))
		if errors.Is(err, sql.ErrNoRows) {
			return missingOrConflict(ctx, tx, e.ID)
		}
		if err != nil {
			return fmt.Errorf("update endpoint %s: %w", e.ID, err)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	db.hub.publish(e.ID)
	return updated, nil
}

// missingOrConflict tells why a versioned update matched no row.
func missingOrConflict(ctx context.Context, tx *sql.Tx, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM endpoints WHERE id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("update endpoint %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
	}
	return fmt.Errorf("endpoint %s: %w", id, storage.ErrConflict)
}

// SetEndpointEnabled enables or disables an endpoint whatever its version;
// it still counts as an update (new version, UpdatedAt, UpdatedBy), so a
// concurrent UpdateEndpoint based on the old version cannot undo it.
func (db *DB) SetEndpointEnabled(ctx context.Context, id string, enabled bool, reason, by string) (domain.Endpoint, error) {
	if enabled {
		reason = ""
	}
	var e domain.Endpoint
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = scanEndpoint(tx.QueryRowContext(ctx, `UPDATE endpoints SET enabled = ?, disabled_reason = ?, updated_by = ?,
				updated_at = ?, version = version + 1
			WHERE id = ? RETURNING `+endpointColumns, enabled, reason, by, micros(db.now()), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("set endpoint %s enabled: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	db.hub.publish(id)
	return e, nil
}

// DeleteEndpoint removes an endpoint and its secrets.
func (db *DB) DeleteEndpoint(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The foreign key cascades too; deleting explicitly keeps the
		// secrets from outliving the endpoint even on a file opened
		// without foreign_keys.
		if _, err := tx.ExecContext(ctx, `DELETE FROM endpoint_secrets WHERE endpoint_id = ?`, id); err != nil {
			return fmt.Errorf("delete endpoint %s secrets: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM endpoints WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete endpoint %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("delete endpoint %s: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return err
	}
	db.hub.publish(id)
	return nil
}

// EachEndpoint calls fn for every endpoint in id order. It reads in
// batches, so no read transaction stays open while fn runs (a long one
// would keep the WAL from being checkpointed).
func (db *DB) EachEndpoint(ctx context.Context, fn func(domain.Endpoint) error) error {
	const batch = 1000
	after := ""
	for {
		items, err := queryAll(ctx, db.reader, `SELECT `+endpointColumns+` FROM endpoints WHERE id > ? ORDER BY id LIMIT ?`,
			[]any{after, batch}, scanEndpoint)
		if err != nil {
			return fmt.Errorf("load endpoints: %w", err)
		}
		for _, e := range items {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(items) < batch {
			return nil
		}
		after = items[len(items)-1].ID
	}
}

// queryer is a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q queryer, query string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
