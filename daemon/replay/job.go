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
	"github.com/hookd/hookd/storage"
)

// Why a job stopped before its end (the cause of its context).
var (
	errCanceled  = errors.New("replay job canceled")
	errJobGone   = errors.New("replay job no longer stored")
	errLeaseLost = errors.New("replay job progress could not be stored for too long; another process may take it over")
)

// markConcurrency bounds the MarkReplayed calls of one page in flight.
const markConcurrency = 16

// run is one execution of a job by this runner.
type run struct {
	r       *Runner
	log     *slog.Logger
	resumed bool
	// bound is CreatedAt rounded down to the millisecond the DLQ keeps: an
	// entry replayed at or after it was replayed by this job (or since it
	// was asked for), and is never replayed by it again.
	bound time.Time

	mu        sync.Mutex
	job       domain.ReplayJob // progress, as the next heartbeat stores it
	processed int64
}

func (p *run) snapshot() domain.ReplayJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.job
}

func (p *run) add(replayed, skipped, failed int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.job.Replayed += replayed
	p.job.Skipped += skipped
	p.job.Failed += failed
	p.processed += replayed + skipped + failed
	// Dead letters stored between the counting pass and now can make the
	// count short; a progress bar must not pass 100%.
	p.job.Total = max(p.job.Total, p.processed)
}

// runJob runs job to its end and stores its final state, unless it is
// stopped first (canceled, or ctx ends): then it leaves the stored state
// alone.
func (r *Runner) runJob(ctx context.Context, job domain.ReplayJob, resumed bool) {
	p := &run{
		r: r, resumed: resumed,
		log:   r.log.With("job", job.ID),
		bound: job.CreatedAt.Truncate(time.Millisecond),
	}
	// A takeover starts again from the first page: counters stored by the
	// previous runner would count its pages twice.
	job.State, job.Total, job.Replayed, job.Skipped, job.Failed, job.Error, job.FinishedAt =
		domain.ReplayRunning, 0, 0, 0, 0, "", nil
	p.job = job

	jctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	// The first write tells a job canceled while it waited from one to run.
	err := r.retry(jctx, p.log, "store replay job state", func() error { return r.jobs.UpdateReplayJob(jctx, job) })
	if err != nil {
		p.stopped(ctx, classifyUpdate(err))
		return
	}
	p.log.Info("replay job started", "filter", job.Filter, "force", job.Force, "resumed", resumed)

	hbStop, hbDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(hbDone)
		p.heartbeat(jctx, stop, hbStop)
	}()
	workErr := p.work(jctx)
	close(hbStop)
	<-hbDone

	if cause := context.Cause(jctx); cause != nil {
		p.stopped(ctx, cause)
		return
	}
	final := p.snapshot()
	finished := r.now()
	final.FinishedAt = &finished
	if workErr != nil {
		final.State, final.Error = domain.ReplayFailed, workErr.Error()
	} else {
		final.State = domain.ReplayDone
		// What the job went through is the exact total; the counting pass
		// was an estimate.
		final.Total = final.Replayed + final.Skipped + final.Failed
	}
	err = r.retry(ctx, p.log, "store replay job result", func() error { return r.jobs.UpdateReplayJob(ctx, final) })
	switch {
	case errors.Is(err, storage.ErrConflict):
		p.log.Info("replay job canceled as it ended", "replayed", final.Replayed)
	case err != nil:
		// Left running in the store: a takeover will go through the
		// entries again, skip those replayed, and store the end.
		p.log.Error("storing the end of a replay job failed", "error", err)
	case workErr != nil:
		p.log.Error("replay job failed", "error", workErr, "replayed", final.Replayed, "skipped", final.Skipped, "failed", final.Failed)
	default:
		p.log.Info("replay job done", "total", final.Total, "replayed", final.Replayed, "skipped", final.Skipped, "failed", final.Failed)
	}
}

func classifyUpdate(err error) error {
	switch {
	case errors.Is(err, storage.ErrConflict):
		return errCanceled
	case errors.Is(err, storage.ErrNotFound):
		return errJobGone
	}
	return err
}

func (p *run) stopped(ctx context.Context, cause error) {
	switch {
	case errors.Is(cause, errCanceled):
		p.log.Info("replay job canceled; stopped")
	case ctx.Err() != nil:
		p.log.Info("replay job stopped by shutdown; another runner will take it over")
	default:
		p.log.Warn("replay job stopped", "reason", cause)
	}
}

// heartbeat stores the job's progress every Heartbeat until hbStop closes
// or the job is stopped. It stops the job when the store says the job was
// canceled (ErrConflict) or is gone, and when no write has succeeded for
// half of StaleAfter: by then another process may have taken the job
// over, and two runners would race each other.
func (p *run) heartbeat(jctx context.Context, stop context.CancelCauseFunc, hbStop <-chan struct{}) {
	r := p.r
	// A timer set again after each write, not a ticker: a late tick
	// followed by a punctual one would write twice within Heartbeat.
	t := time.NewTimer(r.o.Heartbeat)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-jctx.Done():
			return
		case <-hbStop:
			return
		case <-t.C:
		}
		err := r.jobs.UpdateReplayJob(jctx, p.snapshot())
		t.Reset(r.o.Heartbeat)
		switch {
		case err == nil:
			lastOK = time.Now()
		case jctx.Err() != nil:
			return
		case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
			stop(classifyUpdate(err))
			return
		default:
			p.log.Warn("storing replay job progress failed", "error", err)
			if time.Since(lastOK) >= r.o.StaleAfter/2 {
				stop(errLeaseLost)
				return
			}
		}
	}
}

// filter is the job's filter, bounded to the dead letters that existed
// when the job was made: a replay that dies again becomes a new dead
// letter (newer, not replayed), which this job must not replay again when
// it is taken over.
func (p *run) filter() domain.DeadLetterFilter {
	f := p.job.Filter
	// Until is exclusive and the DLQ keeps milliseconds.
	until := p.bound.Add(time.Millisecond)
	if f.Until.IsZero() || f.Until.After(until) {
		f.Until = until
	}
	return f
}

// work counts the job's dead letters, then replays them page by page.
func (p *run) work(ctx context.Context) error {
	r, f := p.r, p.filter()
	var total int64
	err := p.pages(ctx, f, func(items []domain.DeadLetter) error {
		total += int64(len(items))
		return nil
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.job.Total = total
	p.mu.Unlock()
	p.log.Info("replay job counted its dead letters", "total", total)
	return p.pages(ctx, f, func(items []domain.DeadLetter) error { return p.replayPage(ctx, items, r.now()) })
}

// pages calls fn with each page of dead letters matching f, retrying
// failed reads.
func (p *run) pages(ctx context.Context, f domain.DeadLetterFilter, fn func([]domain.DeadLetter) error) error {
	r := p.r
	cursor := ""
	for {
		var page storage.Page[domain.DeadLetter]
		err := r.retry(ctx, p.log, "list dead letters", func() error {
			var err error
			page, err = r.dlq.ListDeadLetters(ctx, f, storage.PageRequest{Limit: r.o.PageSize, Cursor: cursor})
			return err
		})
		if err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		if err := fn(page.Items); err != nil {
			return err
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// replayPage replays the entries of one page that need it, in one
// Produce call, then marks them replayed at now.
func (p *run) replayPage(ctx context.Context, items []domain.DeadLetter, now time.Time) error {
	r := p.r
	var (
		msgs                      []*sarama.ProducerMessage
		sent                      []domain.DeadLetter
		replayed, skipped, failed int64
	)
	for _, dl := range items {
		switch {
		case dl.ReplayedAt != nil && !dl.ReplayedAt.Before(p.bound):
			// Replayed since the job was made: by an earlier run of this
			// job (taken over), or by someone else. Never twice, even
			// when forced.
			if p.resumed {
				replayed++
			} else {
				skipped++
			}
		case !p.job.Force && r.guarded(dl, now):
			skipped++
		default:
			m, _, err := dispatch.ReplayMessage(dl, r.o.RetryPrefix, r.o.Tiers, now)
			if err != nil {
				failed++
				p.log.Debug("dead letter not replayable", "delivery_id", dl.DeliveryID, "endpoint_id", dl.EndpointID, "error", err)
				continue
			}
			msgs, sent = append(msgs, m), append(sent, dl)
		}
	}
	if len(msgs) == 0 {
		p.add(replayed, skipped, failed)
		return nil
	}

	// A page begun is finished even if the job is stopped meanwhile (for
	// StopGrace at most): records that reached Kafka but were not marked
	// would be replayed again by a takeover.
	pctx, cancel := graceful(ctx, r.o.StopGrace)
	defer cancel()
	err := r.retry(ctx, p.log, "produce replays", func() error { return r.producer.Produce(pctx, msgs) })
	if err != nil {
		p.add(replayed, skipped, failed)
		return fmt.Errorf("produce %d replays: %w", len(msgs), err)
	}
	p.add(replayed+int64(len(msgs)), skipped, failed)
	if err := p.markAll(ctx, pctx, sent, now); err != nil {
		return fmt.Errorf("%d dead letters were replayed but marking them failed: %w", len(sent), err)
	}
	return nil
}

// markAll marks dls replayed at now, several at a time; calls run under
// pctx, retries stop with ctx.
func (p *run) markAll(ctx, pctx context.Context, dls []domain.DeadLetter, now time.Time) error {
	r := p.r
	sem := make(chan struct{}, markConcurrency)
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for _, dl := range dls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := r.retry(ctx, p.log, "mark dead letter replayed", func() error {
				err := r.dlq.MarkReplayed(pctx, dl.EndpointID, dl.DeliveryID, now)
				if errors.Is(err, storage.ErrNotFound) {
					// Discarded or expired since it was listed; its
					// replay went out all the same.
					return nil
				}
				return err
			})
			if err != nil {
				errMu.Lock()
				if first == nil {
					first = fmt.Errorf("dead letter %s: %w", dl.DeliveryID, err)
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// graceful returns a context that ends grace after parent ends, or when
// its cancel function is called.
func graceful(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	var (
		mu    sync.Mutex
		timer *time.Timer
	)
	stopAfter := context.AfterFunc(parent, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(grace, cancel)
	})
	return ctx, func() {
		stopAfter()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// retry calls op until it succeeds, fails for good, Attempts are spent,
// or ctx ends (then it does not wait for another try).
func (r *Runner) retry(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	backoff := r.o.RetryBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || permanent(err) || attempt >= r.o.Attempts || ctx.Err() != nil {
			return err
		}
		log.Warn(what+" failed; retrying", "attempt", attempt, "in", backoff, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// permanent reports errors no retry can help with.
func permanent(err error) bool {
	return errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) ||
		errors.Is(err, storage.ErrInvalidCursor) || errors.Is(err, storage.ErrInvalidRecord)
}
