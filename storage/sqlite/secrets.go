package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
)

// secretContext binds a sealed secret to its row: a ciphertext copied to
// another row does not open.
func secretContext(id string) string { return "endpoint_secret:" + id }

// keyCheckContext binds the sealed check value (the same context as the
// PostgreSQL store uses).
const keyCheckContext = "encryption_key_check"

func (db *DB) insertSecret(ctx context.Context, tx *sql.Tx, secret domain.EndpointSecret) error {
	if secret.CreatedAt.IsZero() {
		secret.CreatedAt = db.now()
	}
	sealed := db.box.Seal([]byte(secret.Value), secretContext(secret.ID))
	_, err := tx.ExecContext(ctx, `INSERT INTO endpoint_secrets (id, endpoint_id, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		secret.ID, secret.EndpointID, sealed, micros(secret.CreatedAt), nullTime(secret.ExpiresAt, micros))
	switch {
	case isForeignKeyViolation(err):
		return fmt.Errorf("endpoint %s: %w", secret.EndpointID, storage.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("secret %s: %w", secret.ID, storage.ErrConflict)
	case err != nil:
		return fmt.Errorf("store secret %s: %w", secret.ID, err)
	}
	return nil
}

// RotateSecret adds secret as the endpoint's newest and cuts the life of
// every older secret that would outlive oldExpiresAt, in one transaction.
// Watchers hear of it as a change of the endpoint, so signers drop cached
// secrets and the new one signs at once.
func (db *DB) RotateSecret(ctx context.Context, endpointID string, secret domain.EndpointSecret, oldExpiresAt time.Time) error {
	secret.EndpointID = endpointID
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM endpoints WHERE id = ?`, endpointID).Scan(&n); err != nil {
			return fmt.Errorf("rotate secret of %s: %w", endpointID, err)
		}
		if n == 0 {
			return fmt.Errorf("endpoint %s: %w", endpointID, storage.ErrNotFound)
		}
		cut := micros(oldExpiresAt)
		if _, err := tx.ExecContext(ctx, `UPDATE endpoint_secrets SET expires_at = ?
			WHERE endpoint_id = ? AND (expires_at IS NULL OR expires_at > ?)`, cut, endpointID, cut); err != nil {
			return fmt.Errorf("rotate secret of %s: %w", endpointID, err)
		}
		return db.insertSecret(ctx, tx, secret)
	})
	if err != nil {
		return err
	}
	db.hub.publish(endpointID)
	return nil
}

// ActiveSecrets returns the secrets that sign at time now, newest first.
// A secret that does not open is reported as ErrWrongEncryptionKey.
func (db *DB) ActiveSecrets(ctx context.Context, endpointID string, now time.Time) ([]domain.EndpointSecret, error) {
	type row struct {
		sec    domain.EndpointSecret
		sealed []byte
	}
	rows, err := queryAll(ctx, db.reader, `SELECT id, sealed, created_at, expires_at FROM endpoint_secrets
		WHERE endpoint_id = ? AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY created_at DESC, id DESC`, []any{endpointID, micros(now)},
		func(s scanner) (row, error) {
			var (
				r       = row{sec: domain.EndpointSecret{EndpointID: endpointID}}
				created int64
				expires sql.NullInt64
			)
			if err := s.Scan(&r.sec.ID, &r.sealed, &created, &expires); err != nil {
				return r, err
			}
			r.sec.CreatedAt, r.sec.ExpiresAt = fromMicros(created), timePtr(expires, fromMicros)
			return r, nil
		})
	if err != nil {
		return nil, fmt.Errorf("secrets of %s: %w", endpointID, err)
	}
	out := make([]domain.EndpointSecret, 0, len(rows))
	for _, r := range rows {
		plain, err := db.box.Open(r.sealed, secretContext(r.sec.ID))
		if err != nil {
			return nil, fmt.Errorf("secret %s of %s: %w: %w", r.sec.ID, endpointID, storage.ErrWrongEncryptionKey, err)
		}
		r.sec.Value = string(plain)
		out = append(out, r.sec)
	}
	return out, nil
}

// CheckEncryptionKey proves the key opens what is stored. The first call
// records a sealed check value; if secrets were stored before that (a file
// from before the check existed), one of them must open first, so a wrong
// key is never recorded as the right one.
func (db *DB) CheckEncryptionKey(ctx context.Context) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var sealed []byte
		err := tx.QueryRowContext(ctx, `SELECT sealed FROM encryption_key_check WHERE id = 1`).Scan(&sealed)
		if err == nil {
			if plain, err := db.box.Open(sealed, keyCheckContext); err != nil || string(plain) != secretbox.KeyCheck {
				return fmt.Errorf("encryption key check: %w", storage.ErrWrongEncryptionKey)
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("encryption key check: %w", err)
		}
		var id string
		err = tx.QueryRowContext(ctx, `SELECT id, sealed FROM endpoint_secrets LIMIT 1`).Scan(&id, &sealed)
		switch {
		case err == nil:
			if _, err := db.box.Open(sealed, secretContext(id)); err != nil {
				return fmt.Errorf("encryption key check: secret %s: %w", id, storage.ErrWrongEncryptionKey)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("encryption key check: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO encryption_key_check (id, sealed, created_at) VALUES (1, ?, ?)`,
			db.box.Seal([]byte(secretbox.KeyCheck), keyCheckContext), micros(db.now())); err != nil {
			return fmt.Errorf("encryption key check: %w", err)
		}
		return nil
	})
}
