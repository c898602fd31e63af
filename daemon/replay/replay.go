// Package replay sends dead letters back to their endpoints: one at a
// time (ReplayOne), or in bulk as replay jobs (Submit) kept in the config
// store, which any hookd process can run and take over when the process
// running one dies.
//
// A replay is a retry record in the shortest retry tier (see
// dispatch.ReplayMessage), produced durably before the dead letter is
// marked replayed, so a crash between the two replays an entry at most
// once more, never zero times.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/dispatch"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/storage"
)

// JobStore keeps replay jobs (storage.ReplayJobStore has all it needs).
type JobStore interface {
	CreateReplayJob(ctx context.Context, job domain.ReplayJob) (stored domain.ReplayJob, created bool, err error)
	UpdateReplayJob(ctx context.Context, job domain.ReplayJob) error
	ClaimStaleReplayJob(ctx context.Context, staleBefore, now time.Time) (job domain.ReplayJob, claimed bool, err error)
}

// DeadLetters is the part of the dead-letter queue a replay reads and
// marks.
type DeadLetters interface {
	ListDeadLetters(ctx context.Context, f domain.DeadLetterFilter, p storage.PageRequest) (storage.Page[domain.DeadLetter], error)
	MarkReplayed(ctx context.Context, endpointID, deliveryID string, at time.Time) error
}

// Producer writes records durably (acks=all) before returning nil.
type Producer interface {
	Produce(ctx context.Context, msgs []*sarama.ProducerMessage) error
}

var (
	_ JobStore    = storage.ReplayJobStore(nil)
	_ DeadLetters = storage.DeadLetterStore(nil)
	_ Producer    = (*kafka.Producer)(nil)
)

// Options tune a Runner; zero fields take the defaults.
type Options struct {
	// RetryPrefix and Tiers name the retry topics (defaults
	// kafka.DefaultRetryPrefix and retry.DefaultTiers).
	RetryPrefix string
	Tiers       retry.Tiers
	// Guard (default 1h): a job skips dead letters replayed less than
	// Guard ago, unless it is forced, so two operators replaying the same
	// filter do not double every delivery.
	Guard time.Duration
	// Heartbeat (default 1s) is how often a running job stores its
	// progress, which also tells other processes it is alive.
	Heartbeat time.Duration
	// StaleAfter (default 1m): a pending or running job not updated for
	// this long has lost its runner and is taken over. Keep it well above
	// Heartbeat.
	StaleAfter time.Duration
	// PollEvery (default 10s) is how often Run looks for stale jobs.
	PollEvery time.Duration
	// PageSize (default 500, at most storage.MaxPageSize) is how many dead
	// letters a job reads, and produces in one call, at a time.
	PageSize int
	// MaxJobs (default 4) bounds the jobs one Runner runs at once; the
	// others wait.
	MaxJobs int
	// Attempts (default 5) is how many times a job tries a failing store
	// or Kafka call, with backoff from RetryBackoff (default 250ms,
	// doubling up to 5s), before the job fails.
	Attempts     int
	RetryBackoff time.Duration
	// StopGrace (default 5s) bounds how long the page a job is producing
	// may take to finish once the job is stopped (canceled, or Run
	// ending): what reached Kafka is then marked replayed, so a takeover
	// does not send it again.
	StopGrace time.Duration
	// Now is the clock of the times stored (tests); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Guard, time.Hour)
	def(&o.Heartbeat, time.Second)
	def(&o.StaleAfter, time.Minute)
	def(&o.PollEvery, 10*time.Second)
	def(&o.RetryBackoff, 250*time.Millisecond)
	def(&o.StopGrace, 5*time.Second)
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	o.PageSize = min(o.PageSize, storage.MaxPageSize)
	if o.MaxJobs <= 0 {
		o.MaxJobs = 4
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.RetryPrefix == "" {
		o.RetryPrefix = kafka.DefaultRetryPrefix
	}
	if len(o.Tiers.Durations()) == 0 {
		o.Tiers = retry.DefaultTiers()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// maxQueue bounds the jobs waiting in memory for a free slot; more are
// left pending in the store, where a stale-job poll (of this runner or
// another) picks them up.
const maxQueue = 1024

// Runner runs replay jobs and single replays. It is safe for concurrent
// use.
type Runner struct {
	jobs     JobStore
	dlq      DeadLetters
	producer Producer
	o        Options
	log      *slog.Logger

	mu      sync.Mutex
	queue   []queued
	running map[string]bool // ids of the jobs this runner runs
	active  int             // slots taken, including claims under way
	wake    chan struct{}
}

type queued struct {
	job domain.ReplayJob
	at  time.Time // when it was submitted, by the monotonic clock
}

// New returns a Runner; it runs jobs only while Run runs.
func New(jobs JobStore, dlq DeadLetters, producer Producer, opts Options) *Runner {
	opts.setDefaults()
	return &Runner{
		jobs: jobs, dlq: dlq, producer: producer, o: opts, log: opts.Logger.With("component", "replay"),
		running: map[string]bool{}, wake: make(chan struct{}, 1),
	}
}

func (r *Runner) now() time.Time { return r.o.Now().UTC() }

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run runs submitted jobs and takes over stale ones until ctx ends. Then
// it stops its jobs, without marking them final, and returns nil once
// they have stopped: another process (or this one, restarted) takes them
// over after StaleAfter.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	poll := time.NewTicker(r.o.PollEvery)
	defer poll.Stop()
	// Look for stale jobs at once: after a restart, this process's own
	// jobs of before are stale and should not wait a poll period.
	claim := true
	for {
		r.startQueued(ctx, &wg)
		if claim {
			r.claimStale(ctx, &wg)
			claim = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-poll.C:
			claim = true
		}
	}
}

// startQueued starts submitted jobs while slots are free. A job that
// waited half of StaleAfter is dropped instead: another runner may be
// about to claim it as stale, and only a claim (atomic in the store)
// guarantees a job runs once; it is left to the claims.
func (r *Runner) startQueued(ctx context.Context, wg *sync.WaitGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.active < r.o.MaxJobs && len(r.queue) > 0 {
		q := r.queue[0]
		r.queue[0] = queued{}
		r.queue = r.queue[1:]
		if r.running[q.job.ID] {
			continue
		}
		if time.Since(q.at) >= r.o.StaleAfter/2 {
			r.log.Info("replay job waited too long for a slot; leaving it to stale-job takeover", "job", q.job.ID)
			continue
		}
		r.startLocked(ctx, wg, q.job, false)
	}
}

// startLocked takes a slot and runs job in its own goroutine; r.mu is held.
func (r *Runner) startLocked(ctx context.Context, wg *sync.WaitGroup, job domain.ReplayJob, resumed bool) {
	r.active++
	r.running[job.ID] = true
	wg.Go(func() {
		defer func() {
			r.mu.Lock()
			r.active--
			delete(r.running, job.ID)
			r.mu.Unlock()
			r.signal()
		}()
		r.runJob(ctx, job, resumed)
	})
}

// claimStale takes over stale jobs while slots are free. It claims only
// what it can start at once: a claimed job that waited would go stale
// again.
func (r *Runner) claimStale(ctx context.Context, wg *sync.WaitGroup) {
	for ctx.Err() == nil {
		r.mu.Lock()
		if r.active >= r.o.MaxJobs {
			r.mu.Unlock()
			return
		}
		r.active++ // held for the claim below
		r.mu.Unlock()

		now := r.now()
		job, claimed, err := r.jobs.ClaimStaleReplayJob(ctx, now.Add(-r.o.StaleAfter), now)

		r.mu.Lock()
		r.active--
		switch {
		case err != nil:
			r.mu.Unlock()
			if ctx.Err() == nil {
				r.log.Warn("looking for stale replay jobs failed", "error", err)
			}
			return
		case !claimed:
			r.mu.Unlock()
			return
		case r.running[job.ID]:
			// Our own job, whose heartbeats failed for a while; the
			// claim only refreshed it, and it runs on.
			r.mu.Unlock()
			continue
		}
		r.queue = removeJob(r.queue, job.ID)
		r.log.Info("taking over a stale replay job", "job", job.ID, "state", job.State, "updated_at", job.UpdatedAt)
		// A pending job never started, so none of its work was done;
		// a running one may have replayed entries before its runner died.
		r.startLocked(ctx, wg, job, job.State == domain.ReplayRunning)
		r.mu.Unlock()
	}
}

func removeJob(q []queued, id string) []queued {
	out := q[:0]
	for _, e := range q {
		if e.job.ID != id {
			out = append(out, e)
		}
	}
	clear(q[len(out):])
	return out
}

// Submit stores job as a new pending job and starts it when Run runs. A
// job whose IdempotencyKey was used before is not stored again: the
// stored one is returned with created false, and is not started again.
// Submit sets the ID (when empty), the state, CreatedAt and UpdatedAt,
// and clears the counters, error and FinishedAt.
func (r *Runner) Submit(ctx context.Context, job domain.ReplayJob) (stored domain.ReplayJob, created bool, err error) {
	if job.ID == "" {
		job.ID = ids.New(ids.ReplayJob)
	}
	// Always now, never the caller's: entries replayed at or after
	// CreatedAt count as done by this job, so a CreatedAt in the future
	// would skip work that was never done.
	now := r.now()
	job.State, job.CreatedAt, job.UpdatedAt, job.FinishedAt = domain.ReplayPending, now, now, nil
	job.Total, job.Replayed, job.Skipped, job.Failed, job.Error = 0, 0, 0, 0, ""
	stored, created, err = r.jobs.CreateReplayJob(ctx, job)
	if err != nil {
		return stored, false, fmt.Errorf("store replay job: %w", err)
	}
	if !created {
		return stored, false, nil
	}
	r.mu.Lock()
	if len(r.queue) < maxQueue {
		r.queue = append(r.queue, queued{job: stored, at: time.Now()})
	} else {
		r.log.Warn("too many replay jobs waiting; leaving this one to stale-job takeover", "job", stored.ID)
	}
	r.mu.Unlock()
	r.signal()
	return stored, true, nil
}

// DryRun counts the dead letters matching f, and how many of them a job
// would skip because they were replayed within Guard (none when force).
func (r *Runner) DryRun(ctx context.Context, f domain.DeadLetterFilter, force bool) (matched, skipped int64, err error) {
	now := r.now()
	cursor := ""
	for {
		page, err := r.dlq.ListDeadLetters(ctx, f, storage.PageRequest{Limit: r.o.PageSize, Cursor: cursor})
		if err != nil {
			return matched, skipped, fmt.Errorf("list dead letters: %w", err)
		}
		for _, dl := range page.Items {
			matched++
			if !force && r.guarded(dl, now) {
				skipped++
			}
		}
		if page.NextCursor == "" {
			return matched, skipped, nil
		}
		cursor = page.NextCursor
	}
}

// guarded reports whether dl was replayed within Guard of now.
func (r *Runner) guarded(dl domain.DeadLetter, now time.Time) bool {
	return dl.ReplayedAt != nil && now.Sub(*dl.ReplayedAt) < r.o.Guard
}

// ReplayOne replays dl now, whenever it was last replayed: it produces
// the replay durably, then marks dl replayed, and returns the replay's
// generation. A dead letter that cannot be replayed (a malformed
// message's, or one whose payload hookd did not make) gives an error
// matching dispatch.ErrNotReplayable. When the replay was produced but
// marking failed, the generation is returned with the error.
func (r *Runner) ReplayOne(ctx context.Context, dl domain.DeadLetter) (generation int, err error) {
	now := r.now()
	msg, generation, err := dispatch.ReplayMessage(dl, r.o.RetryPrefix, r.o.Tiers, now)
	if err != nil {
		return 0, notReplayable(err)
	}
	if err := r.producer.Produce(ctx, []*sarama.ProducerMessage{msg}); err != nil {
		return 0, fmt.Errorf("replay dead letter %s: %w", dl.DeliveryID, err)
	}
	// The replay is out: record it even if the caller gave up meanwhile,
	// or the guard would not know of it.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.StopGrace)
	defer cancel()
	if err := r.dlq.MarkReplayed(mctx, dl.EndpointID, dl.DeliveryID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return generation, fmt.Errorf("dead letter %s was replayed (generation %d) but recording it failed: %w", dl.DeliveryID, generation, err)
	}
	return generation, nil
}

// notReplayableError is an error of ReplayMessage about the dead letter
// itself: it keeps its own message and matches dispatch.ErrNotReplayable,
// which ReplayMessage returns only for malformed messages.
type notReplayableError struct{ err error }

func (e notReplayableError) Error() string { return e.err.Error() }
func (e notReplayableError) Unwrap() error { return e.err }
func (e notReplayableError) Is(target error) bool {
	return target == dispatch.ErrNotReplayable
}

// notReplayable wraps an error of ReplayMessage. Every such error is
// about the dead letter (no endpoint, a payload hookd did not make, data
// that is not JSON), so retrying cannot help.
func notReplayable(err error) error {
	if errors.Is(err, dispatch.ErrNotReplayable) {
		return fmt.Errorf("replay: %w", err)
	}
	return notReplayableError{fmt.Errorf("replay: %w", err)}
}
