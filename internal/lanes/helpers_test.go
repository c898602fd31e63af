package lanes

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told to. Sleep advances it by
// the duration slept, so rate waits complete at once and deterministically.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.slept += d
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

// newTestLanes returns Lanes on a fake clock, recording state changes.
func newTestLanes(t testing.TB, cfg Config) (*Lanes, *fakeClock, *changeLog) {
	t.Helper()
	clk := newFakeClock()
	cfg.Clock = clk
	log := &changeLog{}
	if cfg.OnStateChange == nil {
		cfg.OnStateChange = log.add
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, clk, log
}

type changeLog struct {
	mu      sync.Mutex
	changes []StateChange
}

func (c *changeLog) add(sc StateChange) {
	c.mu.Lock()
	c.changes = append(c.changes, sc)
	c.mu.Unlock()
}

func (c *changeLog) all() []StateChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]StateChange(nil), c.changes...)
}

func (c *changeLog) last(t testing.TB) StateChange {
	t.Helper()
	all := c.all()
	if len(all) == 0 {
		t.Fatal("no state change reported")
	}
	return all[len(all)-1]
}

// mustAdmit acquires and fails the test unless admitted.
func mustAdmit(t testing.TB, l *Lanes, id string, lim Limits) Permit {
	t.Helper()
	p, d := l.Acquire(context.Background(), id, lim)
	if !d.Admitted() {
		t.Fatalf("Acquire(%q): refused (%v, retry after %v), want admitted", id, d.Reason, d.RetryAfter)
	}
	return p
}

// mustRefuse acquires and fails the test unless refused for reason.
func mustRefuse(t testing.TB, l *Lanes, id string, lim Limits, reason Reason) Decision {
	t.Helper()
	p, d := l.Acquire(context.Background(), id, lim)
	if d.Reason != reason {
		p.Release(Result{Aborted: true})
		t.Fatalf("Acquire(%q): %v, want %v", id, d.Reason, reason)
	}
	return d
}

func checkState(t testing.TB, l *Lanes, id string, want State) {
	t.Helper()
	if got, _, _ := l.State(id); got != want {
		t.Fatalf("State(%q) = %v, want %v", id, got, want)
	}
}

var (
	ok      = Result{Success: true}
	fail    = Result{}
	timeout = Result{Timeout: true}
)

// deliver acquires (which must be admitted) and releases with r.
func deliver(t testing.TB, l *Lanes, id string, r Result) {
	t.Helper()
	mustAdmit(t, l, id, Limits{}).Release(r)
}
