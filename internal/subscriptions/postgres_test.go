package subscriptions_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/internal/subscriptions"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// The PostgreSQL store is a Source as it stands.
var _ subscriptions.Source = (*postgres.Store)(nil)

// pgStore opens a store on a fresh, migrated database.
func pgStore(tb testing.TB) (*postgres.Store, string) {
	tb.Helper()
	dsn := testenv.PostgresDSN(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := postgres.Open(ctx, dsn, box)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s, dsn
}

// seed creates n endpoints, a few at a time.
func seed(tb testing.TB, s *postgres.Store, n int) []*domain.Endpoint {
	tb.Helper()
	eps := make([]*domain.Endpoint, n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				tenant := ""
				if i%3 > 0 {
					tenant = fmt.Sprintf("tenant-%d", i%10)
				}
				e, sec := storagetest.NewEndpoint(tenant, fmt.Sprintf("seed.type%d.created", i%50), "seed.*")
				if err := s.CreateEndpoint(context.Background(), e, sec); err != nil {
					errs <- err
					return
				}
				eps[i] = e
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("seed: %v", err)
	}
	return eps
}

// syncedIndex runs a Syncer on s until the test ends and waits for its
// first load.
func syncedIndex(tb testing.TB, s subscriptions.Source, opts subscriptions.SyncerOptions) *subscriptions.Index {
	tb.Helper()
	ix := subscriptions.NewIndex()
	sy := subscriptions.NewSyncer(ix, s, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sy.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Syncer.Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("Syncer.Run did not return after its context ended")
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := sy.WaitReady(wctx); err != nil {
		tb.Fatalf("index not ready: %v", err)
	}
	return ix
}

func waitIndex(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("index never showed %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func hasID(eps []*domain.Endpoint, id string) bool {
	return slices.ContainsFunc(eps, func(e *domain.Endpoint) bool { return e.ID == id })
}

// syncBuffer is a log sink tests can read while the syncer writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPostgresSync(t *testing.T) {
	t.Parallel()
	store, dsn := pgStore(t)
	seeded := seed(t, store, 60)
	var logs syncBuffer
	ix := syncedIndex(t, store, subscriptions.SyncerOptions{
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: 500 * time.Millisecond,
		MaxBackoff: time.Second,
	})
	ctx := context.Background()

	// The first load holds everything, each tenant apart.
	if ix.Len() != len(seeded) {
		t.Fatalf("index holds %d endpoints, store %d", ix.Len(), len(seeded))
	}
	for _, e := range seeded {
		got := ix.Match(e.TenantID, e.EventTypes[0])
		if !hasID(got, e.ID) {
			t.Fatalf("%s missing for (%q, %s)", e.ID, e.TenantID, e.EventTypes[0])
		}
		for _, g := range got {
			if g.TenantID != e.TenantID {
				t.Fatalf("tenant %q lookup returned %s of tenant %q", e.TenantID, g.ID, g.TenantID)
			}
		}
	}

	// Create, update (new filters), disable, delete: each shows.
	e, sec := storagetest.NewEndpoint("acme", "order.created")
	if err := store.CreateEndpoint(ctx, e, sec); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, "a created endpoint", func() bool { return hasID(ix.Match("acme", "order.created"), e.ID) })

	e.EventTypes = []string{"invoice.*"}
	if _, err := store.UpdateEndpoint(ctx, *e); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, "an update's new filters", func() bool { return hasID(ix.Match("acme", "invoice.paid"), e.ID) })
	if hasID(ix.Match("acme", "order.created"), e.ID) {
		t.Error("the filter an update removed still matches")
	}

	if _, err := store.SetEndpointEnabled(ctx, e.ID, false, "410 Gone", "daemon"); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, "a disabled endpoint, flagged", func() bool {
		got, ok := ix.Endpoint(e.ID)
		return ok && !got.Enabled && got.DisabledReason == "410 Gone"
	})
	if !hasID(ix.Match("acme", "invoice.paid"), e.ID) {
		t.Error("a disabled endpoint must still be matched (its deliveries are dead-lettered)")
	}

	if err := store.DeleteEndpoint(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, "a deletion", func() bool { _, ok := ix.Endpoint(e.ID); return !ok })

	// Kill the LISTEN connection. The syncer waits MinBackoff before
	// watching again, so the change below is made while no one listens:
	// only the reload after the new watch can bring it.
	killListener(t, dsn)
	lost, sec := storagetest.NewEndpoint("acme", "refund.issued")
	if err := store.CreateEndpoint(ctx, lost, sec); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, "a change made while the watch was down", func() bool {
		return hasID(ix.Match("acme", "refund.issued"), lost.ID)
	})
	// And the new watch works.
	after, sec := storagetest.NewEndpoint("", "user.created")
	if err := store.CreateEndpoint(ctx, after, sec); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, "a change after the watch came back", func() bool {
		return hasID(ix.Match("", "user.created"), after.ID)
	})

	out := logs.String()
	if !strings.Contains(out, "lost track of endpoint changes") {
		t.Errorf("the broken watch was not logged:\n%s", out)
	}
	if strings.Contains(out, "hookd:hookd") || strings.Contains(out, "whsec_") || strings.Contains(out, "Bearer") {
		t.Errorf("a secret reached the log:\n%s", out)
	}
}

// killListener terminates the backend of the store's LISTEN connection.
func killListener(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no LISTEN connection found to terminate")
	}
}

// BenchmarkPostgresUpdateVisible measures the time from an UpdateEndpoint
// call to the index showing the new version, through the trigger,
// NOTIFY, the watch, GetEndpoint and the index update. Run it with
// -benchtime=200x for 200 updates.
func BenchmarkPostgresUpdateVisible(b *testing.B) {
	store, _ := pgStore(b)
	eps := seed(b, store, 1000)
	ix := syncedIndex(b, store, subscriptions.SyncerOptions{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	e := *eps[0]
	filters := [][]string{{"order.created"}, {"order.*"}}
	// lat runs from the call, afterCommit from its return.
	var lat, afterCommit []time.Duration
	i := 0
	for b.Loop() {
		e.EventTypes = filters[i%2]
		i++
		start := time.Now()
		updated, err := store.UpdateEndpoint(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		deadline := start.Add(10 * time.Second)
		for {
			if got, ok := ix.Endpoint(e.ID); ok && got.Version >= updated.Version {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("update %d not visible after 10s", updated.Version)
			}
			runtime.Gosched()
		}
		now := time.Now()
		lat = append(lat, now.Sub(start))
		afterCommit = append(afterCommit, now.Sub(committed))
		e = updated
	}
	pct := func(ds []time.Duration, p float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds())
	}
	b.ReportMetric(pct(lat, 0.50), "p50-µs")
	b.ReportMetric(pct(lat, 0.99), "p99-µs")
	b.ReportMetric(pct(lat, 1), "max-µs")
	b.ReportMetric(pct(afterCommit, 0.50), "after-commit-p50-µs")
	b.ReportMetric(pct(afterCommit, 0.99), "after-commit-p99-µs")
}
