package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
)

// Store is the PostgreSQL ConfigStore and EndpointWatcher.
type Store struct {
	pool *pgxpool.Pool
	box  *secretbox.Box
	now  func() time.Time

	// keyPurge paces the deletion of expired event keys (eventkeys.go).
	keyPurge purgePacer
}

var (
	_ storage.ConfigStore     = (*Store)(nil)
	_ storage.EndpointWatcher = (*Store)(nil)
)

// Open connects to PostgreSQL. The schema must be migrated (Migrate).
func Open(ctx context.Context, dsn string, box *secretbox.Box) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return New(pool, box), nil
}

// New wraps an existing pool.
func New(pool *pgxpool.Pool, box *secretbox.Box) *Store {
	return &Store{pool: pool, box: box, now: func() time.Time { return time.Now().UTC() }}
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// timestamp rounds to what timestamptz keeps, so values read back compare
// equal to values returned at write time.
func (s *Store) timestamp() time.Time {
	return s.now().Truncate(time.Microsecond)
}

const endpointColumns = `id, tenant_id, url, description, event_types, headers, signing_scheme, retry_policy,
	rate_limit, max_concurrency, timeout_ms, success_status_codes, enabled, disabled_reason, labels,
	created_by, updated_by, created_at, updated_at, version`

func scanEndpoint(row pgx.Row) (domain.Endpoint, error) {
	var (
		e                      domain.Endpoint
		headers, retry, labels []byte
		timeoutMS              int64
		successCodes           []int32
	)
	err := row.Scan(&e.ID, &e.TenantID, &e.URL, &e.Description, &e.EventTypes, &headers, &e.SigningScheme, &retry,
		&e.RateLimit, &e.MaxConcurrency, &timeoutMS, &successCodes, &e.Enabled, &e.DisabledReason, &labels,
		&e.CreatedBy, &e.UpdatedBy, &e.CreatedAt, &e.UpdatedAt, &e.Version)
	if err != nil {
		return e, err
	}
	if err := unmarshalNonEmpty(headers, &e.Headers); err != nil {
		return e, fmt.Errorf("endpoint %s headers: %w", e.ID, err)
	}
	if err := unmarshalNonEmpty(retry, &e.RetryPolicy); err != nil {
		return e, fmt.Errorf("endpoint %s retry policy: %w", e.ID, err)
	}
	if err := unmarshalNonEmpty(labels, &e.Labels); err != nil {
		return e, fmt.Errorf("endpoint %s labels: %w", e.ID, err)
	}
	e.Timeout = time.Duration(timeoutMS) * time.Millisecond
	for _, c := range successCodes {
		e.SuccessStatusCodes = append(e.SuccessStatusCodes, int(c))
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, nil
}

func unmarshalNonEmpty(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

// endpointArgs returns the mutable columns of e, in endpointColumns order
// from tenant_id to labels.
func endpointArgs(e *domain.Endpoint) ([]any, error) {
	headers, err := json.Marshal(nonNilMap(e.Headers))
	if err != nil {
		return nil, err
	}
	retry, err := json.Marshal(e.RetryPolicy)
	if err != nil {
		return nil, err
	}
	labels, err := json.Marshal(nonNilMap(e.Labels))
	if err != nil {
		return nil, err
	}
	codes := make([]int32, len(e.SuccessStatusCodes))
	for i, c := range e.SuccessStatusCodes {
		codes[i] = int32(c)
	}
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	return []any{
		e.TenantID, e.URL, e.Description, types, headers, e.SigningScheme, retry,
		e.RateLimit, e.MaxConcurrency, e.Timeout.Milliseconds(), codes, e.Enabled, e.DisabledReason, labels,
	}, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// CreateEndpoint stores e with its first secret in one transaction.
func (s *Store) CreateEndpoint(ctx context.Context, e *domain.Endpoint, secret domain.EndpointSecret) error {
	if err := e.Validate(); err != nil {
		return err
	}
	args, err := endpointArgs(e)
	if err != nil {
		return err
	}
	now := s.timestamp()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO endpoints (id, tenant_id, url, description, event_types, headers, signing_scheme,
			retry_policy, rate_limit, max_concurrency, timeout_ms, success_status_codes, enabled, disabled_reason, labels,
			created_by, updated_by, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $17, 1)`,
			append(append([]any{e.ID}, args...), e.CreatedBy, now)...)
		if err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("endpoint %s: %w", e.ID, storage.ErrConflict)
			}
			return fmt.Errorf("create endpoint: %w", err)
		}
		secret.EndpointID = e.ID
		if err := s.insertSecret(ctx, tx, secret); err != nil {
			return err
		}
		e.CreatedAt, e.UpdatedAt, e.UpdatedBy, e.Version = now, now, e.CreatedBy, 1
		return nil
	})
}

// GetEndpoint returns one endpoint.
func (s *Store) GetEndpoint(ctx context.Context, id string) (domain.Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
	}
	return e, err
}

type idCursor struct {
	After string `json:"a"`
}

// ListEndpoints pages through endpoints in id order (creation order).
func (s *Store) ListEndpoints(ctx context.Context, f storage.EndpointFilter, p storage.PageRequest) (storage.Page[domain.Endpoint], error) {
	var page storage.Page[domain.Endpoint]
	var cur idCursor
	if p.Cursor != "" {
		if err := storage.DecodeCursor(p.Cursor, &cur); err != nil {
			return page, err
		}
	}
	labels, err := json.Marshal(nonNilMap(f.Labels))
	if err != nil {
		return page, err
	}
	size := p.Size()
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE id > $1 AND ($2 = '' OR tenant_id = $2) AND labels @> $3::jsonb
		ORDER BY id LIMIT $4`, cur.After, f.TenantID, labels, size+1)
	if err != nil {
		return page, fmt.Errorf("list endpoints: %w", err)
	}
	return collectPage(rows, scanEndpoint, size, func(v domain.Endpoint) string { return v.ID }, "list endpoints")
}

// UpdateEndpoint replaces the mutable fields if e.Version is current.
func (s *Store) UpdateEndpoint(ctx context.Context, e domain.Endpoint) (domain.Endpoint, error) {
	if err := e.Validate(); err != nil {
		return e, err
	}
	args, err := endpointArgs(&e)
	if err != nil {
		return e, err
	}
	row := s.pool.QueryRow(ctx, `UPDATE endpoints SET tenant_id = $3, url = $4, description = $5, event_types = $6,
			headers = $7, signing_scheme = $8, retry_policy = $9, rate_limit = $10, max_concurrency = $11, timeout_ms = $12,
			success_status_codes = $13, enabled = $14, disabled_reason = $15, labels = $16, updated_by = $17,
			updated_at = $18, version = version + 1
		WHERE id = $1 AND version = $2
		RETURNING `+endpointColumns,
		append(append([]any{e.ID, e.Version}, args...), e.UpdatedBy, s.timestamp())...)
	updated, err := scanEndpoint(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, s.missingOrConflict(ctx, e.ID)
	}
	if err != nil {
		return e, fmt.Errorf("update endpoint %s: %w", e.ID, err)
	}
	return updated, nil
}

// missingOrConflict tells why a versioned update matched no row.
func (s *Store) missingOrConflict(ctx context.Context, id string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM endpoints WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("update endpoint %s: %w", id, err)
	}
	if !exists {
		return fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
	}
	return fmt.Errorf("endpoint %s: %w", id, storage.ErrConflict)
}

// SetEndpointEnabled enables or disables an endpoint regardless of version.
func (s *Store) SetEndpointEnabled(ctx context.Context, id string, enabled bool, reason, by string) (domain.Endpoint, error) {
	if enabled {
		reason = ""
	}
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `UPDATE endpoints SET enabled = $2, disabled_reason = $3, updated_by = $4,
			updated_at = $5, version = version + 1
		WHERE id = $1 RETURNING `+endpointColumns, id, enabled, reason, by, s.timestamp()))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
	}
	return e, err
}

// DeleteEndpoint removes an endpoint; its secrets go with it (cascade).
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM endpoints WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// EachEndpoint streams every endpoint to fn in id order, a batch at a
// time, so a full reload of 100k endpoints does not hold one long query.
func (s *Store) EachEndpoint(ctx context.Context, fn func(domain.Endpoint) error) error {
	const batch = 1000
	after := ""
	for {
		rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id > $1 ORDER BY id LIMIT $2`, after, batch)
		if err != nil {
			return fmt.Errorf("load endpoints: %w", err)
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Endpoint, error) { return scanEndpoint(r) })
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

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// collectPage reads up to size+1 rows (the extra one only says that there
// is a next page) into a page with a keyset cursor after the last item.
func collectPage[T any](rows pgx.Rows, scan func(pgx.Row) (T, error), size int, idOf func(T) string, what string) (storage.Page[T], error) {
	var page storage.Page[T]
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return page, fmt.Errorf("%s: %w", what, err)
	}
	if len(items) > size {
		items = items[:size]
		page.NextCursor = storage.EncodeCursor(idCursor{After: idOf(items[size-1])})
	}
	page.Items = items
	return page, nil
}
