package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// apiKeyColumns lists columns; it holds no credential.
const apiKeyColumns = //nolint:gosec // column names, not a secret
`id, name, hash, scopes, created_by, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (domain.APIKey, error) {
	var k domain.APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Hash, &k.Scopes, &k.CreatedBy, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	k.LastUsedAt, k.RevokedAt = utcPtr(k.LastUsedAt), utcPtr(k.RevokedAt)
	return k, err
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateAPIKey stores a key (its hash). CreatedAt is set if zero.
func (s *Store) CreateAPIKey(ctx context.Context, k domain.APIKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.timestamp()
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, hash, scopes, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Name, k.Hash, scopes, k.CreatedBy, k.CreatedAt.UTC())
	if isUniqueViolation(err) {
		return fmt.Errorf("api key %s: %w", k.ID, storage.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

// APIKeyByHash finds a key by its hash, revoked or not.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (domain.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fmt.Errorf("api key: %w", storage.ErrNotFound)
	}
	return k, err
}

// ListAPIKeys pages through keys in id order.
func (s *Store) ListAPIKeys(ctx context.Context, p storage.PageRequest) (storage.Page[domain.APIKey], error) {
	var page storage.Page[domain.APIKey]
	var cur idCursor
	if p.Cursor != "" {
		if err := storage.DecodeCursor(p.Cursor, &cur); err != nil {
			return page, err
		}
	}
	size := p.Size()
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2`, cur.After, size+1)
	if err != nil {
		return page, fmt.Errorf("list api keys: %w", err)
	}
	return collectPage(rows, scanAPIKey, size, func(v domain.APIKey) string { return v.ID }, "list api keys")
}

// RevokeAPIKey marks a key revoked; revoking twice keeps the first time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, at.UTC())
	if err != nil {
		return fmt.Errorf("revoke api key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("api key %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// TouchAPIKey records a use; it never moves last_used_at backwards.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, $2), $2) WHERE id = $1`, id, at.UTC())
	if err != nil {
		return fmt.Errorf("touch api key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("api key %s: %w", id, storage.ErrNotFound)
	}
	return nil
}
