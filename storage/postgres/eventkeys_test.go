package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/storagetest"
)

// TestEventKeyPurge: claims delete expired keys in bounded batches, on
// their first claim after a quiet minute and on every
// eventKeyPurgeEvery-th claim, and never touch a live key.
func TestEventKeyPurge(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testenv.PostgresDSN(t)
	if _, err := Migrate(ctx, dsn, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn, storagetest.NewBox(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clock := time.Now().UTC()
	s.now = func() time.Time { return clock }

	now := clock.Truncate(time.Microsecond)
	const expired, live = 2*eventKeyPurgeBatch + 100, 50
	if _, err := s.pool.Exec(ctx, `INSERT INTO event_keys (key, event_id, claimed_at, expires_at)
		SELECT 'old-' || i, 'evt_' || i, $1::timestamptz - interval '2 days', $1::timestamptz - interval '1 day' + i * interval '1 second'
		FROM generate_series(1, $2) i`, now, expired); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO event_keys (key, event_id, claimed_at, expires_at)
		SELECT 'live-' || i, 'evt_' || i, $1::timestamptz, $1::timestamptz + interval '1 day'
		FROM generate_series(1, $2) i`, now, live); err != nil {
		t.Fatal(err)
	}
	count := func() (old, fresh int) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE expires_at <= $1), count(*) FILTER (WHERE expires_at > $1)
			FROM event_keys`, now).Scan(&old, &fresh); err != nil {
			t.Fatal(err)
		}
		return old, fresh
	}
	claims := 0
	claim := func() {
		t.Helper()
		claims++
		key := fmt.Sprintf("new-%d", claims)
		if _, ok, err := s.ClaimEventKey(ctx, key, "evt_new", now, now.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("claim %s: %v, %v", key, ok, err)
		}
	}

	// The first claim of a process purges one batch, oldest first.
	claim()
	if old, fresh := count(); old != expired-eventKeyPurgeBatch || fresh != live+1 {
		t.Fatalf("after the first claim: %d expired and %d live keys, want %d and %d", old, fresh, expired-eventKeyPurgeBatch, live+1)
	}
	var oldest string
	if err := s.pool.QueryRow(ctx, `SELECT key FROM event_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT 1`, now).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if oldest != fmt.Sprintf("old-%d", eventKeyPurgeBatch+1) {
		t.Errorf("oldest expired key left: %s; the purge did not go oldest first", oldest)
	}
	// Then not again until eventKeyPurgeEvery claims...
	for claims < eventKeyPurgeEvery-1 {
		claim()
	}
	if old, _ := count(); old != expired-eventKeyPurgeBatch {
		t.Fatalf("after %d claims within a minute: %d expired keys, want no second purge yet", claims, old)
	}
	claim()
	if old, _ := count(); old != expired-2*eventKeyPurgeBatch {
		t.Fatalf("after %d claims: %d expired keys, want a second batch purged", claims, old)
	}
	// ...or a quiet minute.
	clock = clock.Add(eventKeyPurgeInterval)
	claim()
	if old, fresh := count(); old != 0 || fresh != live+claims {
		t.Fatalf("after a minute: %d expired and %d live keys, want 0 and %d", old, fresh, live+claims)
	}
}
