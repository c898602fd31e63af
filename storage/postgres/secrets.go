package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
)

// secretContext binds a sealed secret to its row: a ciphertext moved to
// another row does not open.
func secretContext(id string) string { return "endpoint_secret:" + id }

func (s *Store) insertSecret(ctx context.Context, tx pgx.Tx, secret domain.EndpointSecret) error {
	if secret.CreatedAt.IsZero() {
		secret.CreatedAt = s.timestamp()
	}
	sealed := s.box.Seal([]byte(secret.Value), secretContext(secret.ID))
	_, err := tx.Exec(ctx, `INSERT INTO endpoint_secrets (id, endpoint_id, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		secret.ID, secret.EndpointID, sealed, secret.CreatedAt, secret.ExpiresAt)
	switch {
	case isForeignKeyViolation(err):
		return fmt.Errorf("endpoint %s: %w", secret.EndpointID, storage.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("secret %s: %w", secret.ID, storage.ErrConflict)
	case err != nil:
		return fmt.Errorf("store secret: %w", err)
	}
	return nil
}

// RotateSecret adds secret and shortens the life of the older ones.
func (s *Store) RotateSecret(ctx context.Context, endpointID string, secret domain.EndpointSecret, oldExpiresAt time.Time) error {
	secret.EndpointID = endpointID
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the endpoint row so concurrent rotations apply one after
		// the other, and fail clearly on a missing endpoint.
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM endpoints WHERE id = $1 FOR UPDATE`, endpointID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("endpoint %s: %w", endpointID, storage.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("rotate secret: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE endpoint_secrets SET expires_at = $2
			WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)`, endpointID, oldExpiresAt.UTC()); err != nil {
			return fmt.Errorf("rotate secret: %w", err)
		}
		return s.insertSecret(ctx, tx, secret)
	})
}

// ActiveSecrets returns the secrets that sign at now, newest first.
func (s *Store) ActiveSecrets(ctx context.Context, endpointID string, now time.Time) ([]domain.EndpointSecret, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, sealed, created_at, expires_at FROM endpoint_secrets
		WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY created_at DESC, id DESC`, endpointID, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("secrets of %s: %w", endpointID, err)
	}
	defer rows.Close()
	var out []domain.EndpointSecret
	for rows.Next() {
		var (
			sec    = domain.EndpointSecret{EndpointID: endpointID}
			sealed []byte
		)
		if err := rows.Scan(&sec.ID, &sealed, &sec.CreatedAt, &sec.ExpiresAt); err != nil {
			return nil, fmt.Errorf("secrets of %s: %w", endpointID, err)
		}
		plain, err := s.box.Open(sealed, secretContext(sec.ID))
		if err != nil {
			return nil, fmt.Errorf("secret %s of %s: %w: %w", sec.ID, endpointID, storage.ErrWrongEncryptionKey, err)
		}
		sec.Value = string(plain)
		sec.CreatedAt = sec.CreatedAt.UTC()
		if sec.ExpiresAt != nil {
			t := sec.ExpiresAt.UTC()
			sec.ExpiresAt = &t
		}
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("secrets of %s: %w", endpointID, err)
	}
	return out, nil
}

// CheckEncryptionKey records a sealed check value on first use and opens
// it on every later call.
func (s *Store) CheckEncryptionKey(ctx context.Context) error {
	const checkContext = "encryption_key_check"
	_, err := s.pool.Exec(ctx, `INSERT INTO encryption_key_check (id, sealed, created_at) VALUES (1, $1, $2)
		ON CONFLICT (id) DO NOTHING`, s.box.Seal([]byte(secretbox.KeyCheck), checkContext), s.timestamp())
	if err != nil {
		return fmt.Errorf("encryption key check: %w", err)
	}
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT sealed FROM encryption_key_check WHERE id = 1`).Scan(&sealed); err != nil {
		return fmt.Errorf("encryption key check: %w", err)
	}
	plain, err := s.box.Open(sealed, checkContext)
	if err != nil || string(plain) != secretbox.KeyCheck {
		return storage.ErrWrongEncryptionKey
	}
	return nil
}
