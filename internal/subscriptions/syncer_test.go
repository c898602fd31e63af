package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// fakeStore is an in-memory endpoint store with a change feed. Like a real
// one, it notifies only the watches that are listening when a change
// commits, and delivers notifications from the watch's own goroutine.
type fakeStore struct {
	mu      sync.Mutex
	eps     map[string]domain.Endpoint
	watches map[*fakeWatch]bool

	// lossy drops notifications, as a store that loses them would.
	lossy bool
	// watchFails makes WatchEndpoints fail before ready.
	watchFails error
	// getErr makes GetEndpoint fail.
	getErr error
	// duringLoad runs inside EachEndpoint, after the snapshot is read.
	duringLoad func()
	// beforeReady runs inside WatchEndpoints before it listens.
	beforeReady func()

	eachCalls, watchCalls, getCalls atomic.Int64
}

type fakeWatch struct {
	ch    chan string
	broke chan error
}

func newFakeStore() *fakeStore {
	return &fakeStore{eps: map[string]domain.Endpoint{}, watches: map[*fakeWatch]bool{}}
}

func (f *fakeStore) put(e domain.Endpoint) {
	f.mu.Lock()
	f.eps[e.ID] = e
	f.notifyLocked(e.ID)
	f.mu.Unlock()
}

func (f *fakeStore) delete(id string) {
	f.mu.Lock()
	delete(f.eps, id)
	f.notifyLocked(id)
	f.mu.Unlock()
}

func (f *fakeStore) notifyLocked(id string) {
	if f.lossy {
		return
	}
	for w := range f.watches {
		w.ch <- id
	}
}

func (f *fakeStore) set(fn func(f *fakeStore)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

// breakWatches makes every active watch return err.
func (f *fakeStore) breakWatches(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watches {
		w.broke <- err
		delete(f.watches, w)
	}
}

func (f *fakeStore) activeWatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watches)
}

func (f *fakeStore) EachEndpoint(ctx context.Context, fn func(domain.Endpoint) error) error {
	f.eachCalls.Add(1)
	f.mu.Lock()
	snapshot := make([]domain.Endpoint, 0, len(f.eps))
	for _, e := range f.eps {
		snapshot = append(snapshot, e)
	}
	during := f.duringLoad
	f.mu.Unlock()
	if during != nil {
		during()
	}
	for _, e := range snapshot {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeStore) GetEndpoint(ctx context.Context, id string) (domain.Endpoint, error) {
	f.getCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return domain.Endpoint{}, f.getErr
	}
	e, ok := f.eps[id]
	if !ok {
		return domain.Endpoint{}, fmt.Errorf("endpoint %s: %w", id, storage.ErrNotFound)
	}
	return e, ctx.Err()
}

func (f *fakeStore) WatchEndpoints(ctx context.Context, ready func(), onChange func(string)) error {
	f.watchCalls.Add(1)
	f.mu.Lock()
	fails, before := f.watchFails, f.beforeReady
	f.mu.Unlock()
	if before != nil {
		before()
	}
	if fails != nil {
		return fails
	}
	w := &fakeWatch{ch: make(chan string, 10000), broke: make(chan error, 1)}
	f.mu.Lock()
	f.watches[w] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watches, w)
		f.mu.Unlock()
	}()
	ready()
	for {
		select {
		case id := <-w.ch:
			onChange(id)
		case err := <-w.broke:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var _ Source = (*fakeStore)(nil)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startSyncer runs a syncer until the test ends and checks that Run
// returns and leaves no watch behind.
func startSyncer(t *testing.T, src Source, opts SyncerOptions) (*Index, *Syncer) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 5 * time.Millisecond
		opts.MaxBackoff = 20 * time.Millisecond
	}
	ix := NewIndex()
	s := NewSyncer(ix, src, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		if f, ok := src.(*fakeStore); ok && f.activeWatches() != 0 {
			t.Errorf("%d watches still running after Run returned", f.activeWatches())
		}
	})
	return ix, s
}

func waitReady(t *testing.T, s *Syncer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatalf("not ready: %v", err)
	}
}

// eventually waits until the index shows want for (tenant, eventType).
func eventually(t *testing.T, ix *Index, tenant, eventType string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := ids(ix.Match(tenant, eventType))
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Match(%q, %q) = %v, want %v", tenant, eventType, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSyncerLoadsThenFollowsChanges(t *testing.T) {
	f := newFakeStore()
	f.put(ep("a", "", true, "order.created"))
	f.put(ep("b", "acme", true, "order.*"))
	ix, s := startSyncer(t, f, SyncerOptions{})
	waitReady(t, s)
	if !s.Ready() {
		t.Fatal("Ready false after WaitReady")
	}
	eventually(t, ix, "", "order.created", "a")
	eventually(t, ix, "acme", "order.created", "b")

	f.put(ep("c", "", true, "order.*"))
	eventually(t, ix, "", "order.created", "a", "c")
	f.put(ep("a", "", false, "user.created"))
	eventually(t, ix, "", "order.created", "c")
	eventually(t, ix, "", "user.created", "a")
	if e, _ := ix.Endpoint("a"); e.Enabled {
		t.Error("disable not applied")
	}
	f.delete("c")
	eventually(t, ix, "", "order.created")
	if f.eachCalls.Load() != 1 {
		t.Errorf("%d full loads, want 1: changes should be applied one by one", f.eachCalls.Load())
	}
}

// TestSyncerSeesChangeDuringInitialLoad is the ordering guarantee: a change
// committed while the first full load runs (after the load read its
// snapshot) is reported by the watch, which is already listening.
func TestSyncerSeesChangeDuringInitialLoad(t *testing.T) {
	f := newFakeStore()
	f.put(ep("a", "", true, "order.created"))
	var once sync.Once
	f.duringLoad = func() {
		once.Do(func() {
			f.put(ep("a", "", true, "user.created"))
			f.put(ep("late", "", true, "order.created"))
		})
	}
	ix, s := startSyncer(t, f, SyncerOptions{})
	waitReady(t, s)
	eventually(t, ix, "", "order.created", "late")
	eventually(t, ix, "", "user.created", "a")
}

// TestSyncerSeesChangeBeforeWatchReady: a change committed while the watch
// is being set up (not yet listening, so never notified) is in the load
// that follows ready.
func TestSyncerSeesChangeBeforeWatchReady(t *testing.T) {
	f := newFakeStore()
	var once sync.Once
	f.beforeReady = func() { once.Do(func() { f.put(ep("early", "", true, "order.created")) }) }
	ix, s := startSyncer(t, f, SyncerOptions{})
	waitReady(t, s)
	eventually(t, ix, "", "order.created", "early")
}

func TestSyncerRewatchesAndReloadsAfterBrokenWatch(t *testing.T) {
	f := newFakeStore()
	f.put(ep("a", "", true, "order.created"))
	ix, s := startSyncer(t, f, SyncerOptions{})
	waitReady(t, s)
	eventually(t, ix, "", "order.created", "a")

	// While the watch is down, a change is not notified to anyone.
	f.set(func(f *fakeStore) { f.watchFails = errors.New("connection refused") })
	f.breakWatches(errors.New("connection reset"))
	waitFor(t, "a failed re-watch", func() bool { return f.watchCalls.Load() >= 3 })
	f.put(ep("missed", "", true, "order.created"))
	f.delete("a")
	f.set(func(f *fakeStore) { f.watchFails = nil })

	eventually(t, ix, "", "order.created", "missed")
	waitFor(t, "a watch again", func() bool { return f.activeWatches() == 1 })
	// And the new watch works.
	f.put(ep("b", "", true, "order.created"))
	eventually(t, ix, "", "order.created", "b", "missed")
}

func TestSyncerPeriodicReloadHealsLostNotifications(t *testing.T) {
	f := newFakeStore()
	ix, s := startSyncer(t, f, SyncerOptions{ReloadInterval: 30 * time.Millisecond})
	waitReady(t, s)
	f.set(func(f *fakeStore) { f.lossy = true })
	f.put(ep("a", "", true, "order.created"))
	eventually(t, ix, "", "order.created", "a")
	if f.getCalls.Load() != 0 {
		t.Errorf("GetEndpoint called %d times, but no notification was sent", f.getCalls.Load())
	}
	waitFor(t, "several reloads", func() bool { return f.eachCalls.Load() >= 3 })
}

func TestSyncerWithoutWatch(t *testing.T) {
	f := newFakeStore()
	f.put(ep("a", "", true, "order.created"))
	ix, s := startSyncer(t, WithoutWatch(f), SyncerOptions{ReloadInterval: 20 * time.Millisecond})
	waitReady(t, s)
	eventually(t, ix, "", "order.created", "a")
	f.put(ep("b", "", true, "order.created"))
	eventually(t, ix, "", "order.created", "a", "b")
}

func TestSyncerRetriesFailedFetches(t *testing.T) {
	f := newFakeStore()
	ix, s := startSyncer(t, f, SyncerOptions{})
	waitReady(t, s)
	f.set(func(f *fakeStore) { f.getErr = errors.New("too many connections") })
	f.put(ep("a", "", true, "order.created"))
	waitFor(t, "failed fetches", func() bool { return f.getCalls.Load() >= 2 })
	if got := ix.Match("", "order.created"); len(got) != 0 {
		t.Fatalf("applied while fetching fails: %v", ids(got))
	}
	f.set(func(f *fakeStore) { f.getErr = nil })
	eventually(t, ix, "", "order.created", "a")
}

func TestSyncerReloadsWhenManyChangesPile(t *testing.T) {
	f := newFakeStore()
	ix, s := startSyncer(t, f, SyncerOptions{MaxPending: 5})
	waitReady(t, s)
	var want []string
	for i := range 200 {
		id := fmt.Sprintf("e%03d", i)
		f.put(ep(id, "", true, "order.created"))
		want = append(want, id)
	}
	eventually(t, ix, "", "order.created", want...)
	if f.eachCalls.Load() < 2 {
		t.Errorf("no full reload for a pile of changes (%d loads)", f.eachCalls.Load())
	}
}

// TestSyncerReadyWithoutWatch: a store whose watch cannot start still gets
// loaded, so a daemon can start with a complete index.
func TestSyncerReadyWithoutWatch(t *testing.T) {
	f := newFakeStore()
	f.put(ep("a", "", true, "order.created"))
	f.watchFails = errors.New("LISTEN not permitted")
	ix, s := startSyncer(t, f, SyncerOptions{})
	waitReady(t, s)
	eventually(t, ix, "", "order.created", "a")
}

// TestSyncerReloadsWhileWatchCannotStart: with a watch that never starts,
// the periodic reload still keeps the index from aging without bound.
func TestSyncerReloadsWhileWatchCannotStart(t *testing.T) {
	f := newFakeStore()
	f.watchFails = errors.New("LISTEN not permitted")
	ix, s := startSyncer(t, f, SyncerOptions{ReloadInterval: 30 * time.Millisecond})
	waitReady(t, s)
	f.put(ep("a", "", true, "order.created"))
	eventually(t, ix, "", "order.created", "a")
}

func TestSyncerWaitReadyHonoursContext(t *testing.T) {
	s := NewSyncer(NewIndex(), newFakeStore(), SyncerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady = %v, want deadline exceeded", err)
	}
	if s.Ready() {
		t.Error("Ready before Run")
	}
}

func TestSyncerRunTwice(t *testing.T) {
	f := newFakeStore()
	_, s := startSyncer(t, f, SyncerOptions{})
	waitReady(t, s)
	if err := s.Run(context.Background()); err == nil {
		t.Error("a second concurrent Run was accepted")
	}
}

func TestSyncerStopsWhileWatchFails(t *testing.T) {
	f := newFakeStore()
	f.watchFails = errors.New("down")
	startSyncer(t, f, SyncerOptions{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	waitFor(t, "a watch attempt", func() bool { return f.watchCalls.Load() >= 1 })
	// Cleanup cancels while Run sleeps for an hour: it must return at once.
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
