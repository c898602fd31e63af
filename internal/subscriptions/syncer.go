package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// Loader reads endpoints for the Syncer. Every storage.EndpointStore is
// one.
type Loader interface {
	// EachEndpoint calls fn for every endpoint (full reloads).
	EachEndpoint(ctx context.Context, fn func(domain.Endpoint) error) error
	// GetEndpoint returns one endpoint, or an error wrapping
	// storage.ErrNotFound when it no longer exists.
	GetEndpoint(ctx context.Context, id string) (domain.Endpoint, error)
}

// Watcher is a store's change feed, as storage.EndpointWatcher defines it.
type Watcher interface {
	WatchEndpoints(ctx context.Context, ready func(), onChange func(endpointID string)) error
}

// Source is what a Syncer reads: a store with a change feed, such as the
// PostgreSQL store.
type Source interface {
	Loader
	Watcher
}

// WithoutWatch makes a Source of a store that has no change feed. A Syncer
// reading it sees changes only through its periodic reload, so set a short
// ReloadInterval.
func WithoutWatch(l Loader) Source { return pollOnly{l} }

type pollOnly struct{ Loader }

func (pollOnly) WatchEndpoints(ctx context.Context, ready func(), _ func(string)) error {
	ready()
	<-ctx.Done()
	return ctx.Err()
}

// Defaults for SyncerOptions.
const (
	// DefaultReloadInterval bounds how long a lost change notification can
	// leave the index stale.
	DefaultReloadInterval = 5 * time.Minute
	DefaultMinBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	// DefaultMaxPending is how many distinct changed endpoints may wait to
	// be fetched one by one; past it, one full reload is cheaper.
	DefaultMaxPending = 1000
	// DefaultTimeout bounds one full load or one batch of fetches, so a
	// hung query cannot stall the index for good.
	DefaultTimeout = 2 * time.Minute
)

// SyncerOptions tune a Syncer; zero fields take the defaults.
type SyncerOptions struct {
	// Logger receives watch and reload failures (nil: slog.Default()).
	Logger *slog.Logger
	// ReloadInterval is the time between full reloads, the safety net for
	// notifications a store failed to deliver.
	ReloadInterval time.Duration
	// MinBackoff and MaxBackoff bound the pause after a failure (a broken
	// watch, a failed reload or fetch); it doubles from one to the other.
	MinBackoff, MaxBackoff time.Duration
	// MaxPending is the number of changed endpoints above which a full
	// reload replaces fetching them one at a time.
	MaxPending int
	// Timeout bounds one full load, or the fetches of one batch of
	// changes.
	Timeout time.Duration
}

// Syncer keeps an Index equal to the endpoints in a store. Run does the
// work; the daemon waits for WaitReady before consuming events, so that no
// event is matched against an empty index.
//
// A change is never lost, whatever the timing: the watch is started and
// ready before every full load, so a change committed during the load is
// both in the load and reported; a change reported while the watch is
// down is covered by the full load that follows every new watch; and the
// periodic reload covers a store that drops a notification.
type Syncer struct {
	ix  *Index
	src Source
	log *slog.Logger

	interval               time.Duration
	minBackoff, maxBackoff time.Duration
	maxPending             int
	timeout                time.Duration
	lastLoad               time.Time // of the last complete load; Run's goroutine only

	running   atomic.Bool
	ready     chan struct{}
	readyOnce sync.Once

	// What is waiting to be applied. onChange fills it from the watch's
	// goroutine and must never block, so it only records and signals.
	mu         sync.Mutex
	pending    map[string]struct{}
	needReload bool
	signal     chan struct{} // capacity 1: "there is work"
}

// NewSyncer returns a Syncer that keeps ix current from src.
func NewSyncer(ix *Index, src Source, opts SyncerOptions) *Syncer {
	s := &Syncer{
		ix:         ix,
		src:        src,
		log:        opts.Logger,
		interval:   opts.ReloadInterval,
		minBackoff: opts.MinBackoff,
		maxBackoff: opts.MaxBackoff,
		maxPending: opts.MaxPending,
		timeout:    opts.Timeout,
		ready:      make(chan struct{}),
		pending:    map[string]struct{}{},
		signal:     make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.interval <= 0 {
		s.interval = DefaultReloadInterval
	}
	if s.minBackoff <= 0 {
		s.minBackoff = DefaultMinBackoff
	}
	if s.maxBackoff <= 0 {
		s.maxBackoff = DefaultMaxBackoff
	}
	s.maxBackoff = max(s.maxBackoff, s.minBackoff)
	if s.maxPending <= 0 {
		s.maxPending = DefaultMaxPending
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	return s
}

// Ready reports whether the index holds a complete load.
func (s *Syncer) Ready() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// WaitReady waits until the index holds a complete load, or ctx ends.
func (s *Syncer) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errWatchEnded = errors.New("endpoint watch ended without an error")

// Run keeps the index current until ctx ends, then returns nil once every
// goroutine it started has stopped. Failures of the store are logged and
// retried with backoff, never returned: a daemon keeps delivering with the
// last good index while its database is away. Run must not be called
// again while it runs.
func (s *Syncer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("subscriptions: Syncer.Run is already running")
	}
	defer s.running.Store(false)

	backoff := s.minBackoff
	for {
		steady, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// A watch that held for a while is a new incident when it breaks;
		// one that breaks at once again keeps backing off, so a flapping
		// connection does not cause a full reload every MinBackoff.
		if steady >= s.maxBackoff {
			backoff = s.minBackoff
		}
		s.log.Warn("subscriptions: lost track of endpoint changes; will watch again and reload all endpoints",
			"error", err, "retry_in", backoff)
		if !s.Ready() || time.Since(s.lastLoad) >= s.interval {
			// Neither the first load nor the periodic one waits for a
			// watch that cannot start: a complete, slightly stale index
			// beats none, and beats one that ages without bound. The next
			// session still reloads once its watch is ready.
			if err := s.reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("subscriptions: loading endpoints failed", "error", err)
			}
		}
		if !sleep(ctx, jitter(backoff)) {
			return nil
		}
		backoff = min(2*backoff, s.maxBackoff)
	}
}

// session watches, loads in full once the watch is ready, then applies
// changes as they are reported and reloads periodically, until the watch
// breaks or ctx ends. It returns how long it ran after its first load.
func (s *Syncer) session(ctx context.Context) (steady time.Duration, err error) {
	wctx, cancel := context.WithCancel(ctx)
	readyC := make(chan struct{})
	var readyOnce sync.Once
	done := make(chan error, 1)

	// Anything queued so far is covered by the load after ready.
	s.mu.Lock()
	clear(s.pending)
	s.needReload = true
	s.mu.Unlock()

	go func() {
		done <- s.src.WatchEndpoints(wctx,
			func() { readyOnce.Do(func() { close(readyC) }) },
			s.enqueue)
	}()
	watching := true
	defer func() {
		cancel()
		if !watching {
			return
		}
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			s.log.Debug("subscriptions: endpoint watch ended", "error", err)
		}
	}()
	watchEnded := func(err error) error {
		watching = false
		if err == nil || (errors.Is(err, context.Canceled) && ctx.Err() == nil) {
			err = errWatchEnded
		}
		return err
	}

	select {
	case <-readyC:
	case err := <-done:
		return 0, fmt.Errorf("watch: %w", watchEnded(err))
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if err := s.flush(ctx); err != nil {
		return 0, err
	}
	start := time.Now()

	reload := time.NewTimer(s.interval)
	defer reload.Stop()
	var retry <-chan time.Time // set while a failed flush waits to be retried
	backoff := s.minBackoff
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case err := <-done:
			return time.Since(start), fmt.Errorf("watch: %w", watchEnded(err))
		case <-reload.C:
			s.mu.Lock()
			s.needReload = true
			s.mu.Unlock()
		case <-s.signal:
			if retry != nil {
				continue // the scheduled retry takes this along
			}
		case <-retry:
			retry = nil
		}
		reloading := s.reloadDue()
		if err := s.flush(ctx); err != nil {
			if ctx.Err() != nil {
				return time.Since(start), ctx.Err()
			}
			s.log.Warn("subscriptions: applying endpoint changes failed; will retry",
				"error", err, "retry_in", backoff)
			retry = time.After(jitter(backoff))
			backoff = min(2*backoff, s.maxBackoff)
			continue
		}
		backoff = s.minBackoff
		if reloading {
			reload.Reset(s.interval)
		}
	}
}

// enqueue records a reported change. It runs on the watch's goroutine.
func (s *Syncer) enqueue(id string) {
	s.mu.Lock()
	if !s.needReload {
		s.pending[id] = struct{}{}
		if len(s.pending) > s.maxPending {
			clear(s.pending)
			s.needReload = true
		}
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *Syncer) reloadDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.needReload
}

// flush applies what is pending: a full reload when one is due, else the
// current state of each changed endpoint. What it could not apply stays
// pending.
func (s *Syncer) flush(ctx context.Context) error {
	s.mu.Lock()
	reload := s.needReload
	var ids []string
	if !reload {
		ids = make([]string, 0, len(s.pending))
		for id := range s.pending {
			ids = append(ids, id)
		}
	}
	// Changes reported before the reload starts are in it; those reported
	// from now on are queued again and applied after it.
	clear(s.pending)
	s.needReload = false
	s.mu.Unlock()

	if reload {
		if err := s.reload(ctx); err != nil {
			s.mu.Lock()
			s.needReload = true
			s.mu.Unlock()
			return err
		}
		return nil
	}
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	changes := make(map[string]*domain.Endpoint, len(ids))
	var failed []string
	var firstErr error
	for _, id := range ids {
		e, err := s.src.GetEndpoint(ctx, id)
		switch {
		case err == nil:
			changes[id] = &e
		case errors.Is(err, storage.ErrNotFound):
			changes[id] = nil
		default:
			failed = append(failed, id)
			if firstErr == nil {
				firstErr = fmt.Errorf("get endpoint %s: %w", id, err)
			}
		}
	}
	s.ix.apply(changes)
	if len(failed) > 0 {
		s.mu.Lock()
		if !s.needReload {
			for _, id := range failed {
				s.pending[id] = struct{}{}
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("%d of %d changed endpoints not fetched, first: %w", len(failed), len(ids), firstErr)
	}
	return nil
}

// reload replaces the index with everything the store holds.
func (s *Syncer) reload(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	eps := make([]*domain.Endpoint, 0, s.ix.Len()+s.ix.Len()/8)
	err := s.src.EachEndpoint(ctx, func(e domain.Endpoint) error {
		eps = append(eps, &e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load endpoints: %w", err)
	}
	s.ix.replaceOwned(eps)
	s.lastLoad = time.Now()
	level := slog.LevelDebug
	if !s.Ready() {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "subscriptions: loaded all endpoints", "endpoints", len(eps), "took", time.Since(start))
	s.readyOnce.Do(func() { close(s.ready) })
	return nil
}

// jitter spreads d by ±20%, so that daemons that lost their database
// together do not all come back at the same instant.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d)) //nolint:gosec // spreading retries needs no secure randomness
}

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
