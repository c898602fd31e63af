package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/storage"
)

// maxClaimRounds bounds the claim loop: a round only fails to decide when
// the holder released the key between the two statements of a claim.
const maxClaimRounds = 5

// ClaimEventKey records that key publishes eventID until expiresAt, unless
// an unexpired claim holds it (then that claim's event id is returned with
// claimed false). A claim is expired once now reaches its expiresAt.
//
// The claim is one statement: an INSERT that, on a conflict with an
// expired row, takes that row over in place. Concurrent claims of one key
// serialize on its primary key, so exactly one wins. When the key is held,
// a second statement reads the holder; if the holder released the key in
// between, the claim starts over.
func (s *Store) ClaimEventKey(ctx context.Context, key, eventID string, now, expiresAt time.Time) (string, bool, error) {
	if err := storage.CheckEventKey(key); err != nil {
		return "", false, err
	}
	now, expiresAt = now.UTC().Truncate(time.Microsecond), expiresAt.UTC().Truncate(time.Microsecond)
	for range maxClaimRounds {
		var got string
		err := s.pool.QueryRow(ctx, `INSERT INTO event_keys AS k (key, event_id, claimed_at, expires_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, claimed_at = excluded.claimed_at,
				expires_at = excluded.expires_at
			WHERE k.expires_at <= excluded.claimed_at
			RETURNING event_id`, key, eventID, now, expiresAt).Scan(&got)
		switch {
		case err == nil:
			s.purgeEventKeys(ctx, now)
			return got, true, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return "", false, fmt.Errorf("claim event key: %w", err)
		}
		// Held by an unexpired claim: report its event id.
		err = s.pool.QueryRow(ctx, `SELECT event_id FROM event_keys WHERE key = $1`, key).Scan(&got)
		switch {
		case err == nil:
			return got, false, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return "", false, fmt.Errorf("claim event key: read holder: %w", err)
		}
	}
	return "", false, fmt.Errorf("claim event key: the key was claimed and released %d times while this claim ran; try again", maxClaimRounds)
}

// ReleaseEventKey drops key's claim if eventID still holds it.
func (s *Store) ReleaseEventKey(ctx context.Context, key, eventID string) error {
	if err := storage.CheckEventKey(key); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM event_keys WHERE key = $1 AND event_id = $2`, key, eventID); err != nil {
		return fmt.Errorf("release event key: %w", err)
	}
	return nil
}

// Expired event keys are deleted by the claims themselves rather than by a
// job of their own (there is no scheduler in the config store, and several
// daemons share the table): after every eventKeyPurgeEvery-th new claim of
// a process, and after its first new claim in eventKeyPurgeInterval, the
// claim deletes up to eventKeyPurgeBatch expired rows, oldest first
// through event_keys_expires_idx. A batch holds several times the claims
// that triggered it, so the purge keeps up with any steady rate while each
// delete stays small and short; SKIP LOCKED keeps concurrent purges of
// several daemons off each other's rows. Expired rows are harmless until
// then (a claim takes them over), so the purge is best effort: an error is
// dropped and the next purge does the work.
const (
	eventKeyPurgeEvery    = 128
	eventKeyPurgeInterval = time.Minute
	eventKeyPurgeBatch    = 512
)

// purgePacer decides when a claim also purges.
type purgePacer struct {
	claims atomic.Int64
	last   atomic.Int64 // unix nanoseconds of the last purge (store clock)
}

// due reports whether this claim should purge, at store time t.
func (p *purgePacer) due(t time.Time) bool {
	n := p.claims.Add(1)
	last := p.last.Load()
	if n%eventKeyPurgeEvery != 0 && t.UnixNano()-last < int64(eventKeyPurgeInterval) {
		return false
	}
	// One purge per trigger, even when claims race past it.
	return p.last.CompareAndSwap(last, t.UnixNano())
}

// purgeEventKeys deletes one batch of keys expired at now, when due.
func (s *Store) purgeEventKeys(ctx context.Context, now time.Time) {
	if !s.keyPurge.due(s.now()) {
		return
	}
	_, _ = s.deleteExpiredEventKeys(ctx, now, eventKeyPurgeBatch)
}

// deleteExpiredEventKeys deletes up to limit keys expired at now.
func (s *Store) deleteExpiredEventKeys(ctx context.Context, now time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM event_keys WHERE key IN (
			SELECT key FROM event_keys WHERE expires_at <= $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		AND expires_at <= $1`, now.UTC(), limit)
	if err != nil {
		return 0, fmt.Errorf("purge expired event keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
