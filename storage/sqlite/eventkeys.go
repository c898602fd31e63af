package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/storage"
)

// ClaimEventKey records that key publishes eventID until expiresAt, unless
// an unexpired claim holds it (then that claim's event id is returned with
// claimed false). A claim is expired once now reaches its expiresAt, and
// the next claim takes its row over. The single writer connection makes
// the claim and the read of the holder one atomic step.
func (db *DB) ClaimEventKey(ctx context.Context, key, eventID string, now, expiresAt time.Time) (string, bool, error) {
	if err := storage.CheckEventKey(key); err != nil {
		return "", false, err
	}
	var (
		holder  string
		claimed bool
	)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO event_keys (key, event_id, claimed_at, expires_at)
			VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, claimed_at = excluded.claimed_at,
				expires_at = excluded.expires_at
			WHERE event_keys.expires_at <= excluded.claimed_at
			RETURNING event_id`, key, eventID, micros(now), micros(expiresAt)).Scan(&holder)
		switch {
		case err == nil:
			claimed = true
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("claim event key: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT event_id FROM event_keys WHERE key = ?`, key).Scan(&holder); err != nil {
			return fmt.Errorf("claim event key: read holder: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return holder, claimed, nil
}

// ReleaseEventKey drops key's claim if eventID still holds it.
func (db *DB) ReleaseEventKey(ctx context.Context, key, eventID string) error {
	if err := storage.CheckEventKey(key); err != nil {
		return err
	}
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM event_keys WHERE key = ? AND event_id = ?`, key, eventID); err != nil {
		return fmt.Errorf("release event key: %w", err)
	}
	return nil
}
