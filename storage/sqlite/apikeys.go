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

//nolint:gosec // G101: column names, not a credential.
const apiKeyColumns = `id, name, hash, scopes, created_by, created_at, last_used_at, revoked_at`

func scanAPIKey(row scanner) (domain.APIKey, error) {
	var (
		k             domain.APIKey
		scopes        string
		created       int64
		used, revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &scopes, &k.CreatedBy, &created, &used, &revoked); err != nil {
		return k, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return k, fmt.Errorf("api key %s scopes: %w", k.ID, err)
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromMicros(created), timePtr(used, fromMicros), timePtr(revoked, fromMicros)
	return k, nil
}

// CreateAPIKey stores a key (its hash, never the key). CreatedAt is set
// if zero. A reused id or hash is ErrConflict.
func (db *DB) CreateAPIKey(ctx context.Context, k domain.APIKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.now()
	}
	if k.Hash == nil {
		k.Hash = []byte{} // the column is NOT NULL; an empty hash matches no key
	}
	scopes, err := jsonMarshal(k.Scopes)
	if err != nil {
		return fmt.Errorf("api key %s: %w", k.ID, err)
	}
	_, err = db.writer.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, scopes, created_by, created_at, last_used_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Name, k.Hash, scopes, k.CreatedBy, micros(k.CreatedAt),
		nullTime(k.LastUsedAt, micros), nullTime(k.RevokedAt, micros))
	if isUniqueViolation(err) {
		return fmt.Errorf("api key %s: %w", k.ID, storage.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash finds a key by the hash of its secret, revoked or not.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (domain.APIKey, error) {
	if len(hash) == 0 {
		return domain.APIKey{}, fmt.Errorf("api key: %w", storage.ErrNotFound)
	}
	k, err := scanAPIKey(db.reader.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("api key: %w", storage.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys pages through keys in id (creation) order.
func (db *DB) ListAPIKeys(ctx context.Context, p storage.PageRequest) (storage.Page[domain.APIKey], error) {
	page := storage.Page[domain.APIKey]{Items: []domain.APIKey{}}
	var cur idCursor
	if err := decodeCursor(p.Cursor, kindAPIKeys, &cur); err != nil {
		return page, err
	}
	size := p.Size()
	items, err := queryAll(ctx, db.reader, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id > ? ORDER BY id LIMIT ?`,
		[]any{cur.After, size + 1}, scanAPIKey)
	if err != nil {
		return page, fmt.Errorf("list api keys: %w", err)
	}
	if len(items) > size {
		items = items[:size]
		page.NextCursor = encodeCursor(kindAPIKeys, idCursor{After: items[size-1].ID})
	}
	page.Items = append(page.Items, items...)
	return page, nil
}

// RevokeAPIKey marks a key revoked; revoking again keeps the first time.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return db.updateAPIKey(ctx, "revoke", id,
		`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2`, micros(at))
}

// TouchAPIKey records a use of the key; last_used_at never moves back,
// whatever order concurrent requests report their uses in.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	return db.updateAPIKey(ctx, "touch", id,
		`UPDATE api_keys SET last_used_at = max(COALESCE(last_used_at, ?1), ?1) WHERE id = ?2`, micros(at))
}

func (db *DB) updateAPIKey(ctx context.Context, op, id, query string, at int64) error {
	res, err := db.writer.ExecContext(ctx, query, at, id)
	if err != nil {
		return fmt.Errorf("%s api key %s: %w", op, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s api key %s: %w", op, id, err)
	}
	if n == 0 {
		return fmt.Errorf("api key %s: %w", id, storage.ErrNotFound)
	}
	return nil
}
