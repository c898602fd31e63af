package cassandra

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// Defaults of WriterOptions, chosen with BenchmarkWriter
// (writer_bench_test.go, -benchtime=3s): a single Cassandra 5.0 node and
// the benchmark on one 2-core machine, 16 producers writing polls of 32
// attempts (50 endpoints), sustained attempts/s and p99 ms of one poll:
//
//	batch \ in flight       4             16            64
//	1                  1105 / 739    2702 / 324    3577 / 243
//	16                 2203 / 353    3708 / 229    5880 / 199
//	64                 1950 / 389    3677 / 195    5683 / 180
//	256                1972 / 330    3525 / 209    4625 / 253
//
// Requests in flight matter most (the node is CPU-bound, and keeping it
// busy pays); batching beyond 16 changes little here because every
// attempt also writes its own attempts_by_delivery partition, so batches
// average 2.5 statements. 64 keeps batches effective when few partitions
// are hot (one busy endpoint, the eight hour shards) at the best p99. The
// p99 is mostly queueing: the benchmark runs the node at saturation. At
// low load a write goes out at once, without lingering.
//
// The table was measured with three statements per attempt. Since
// attempts_by_event each attempt is four; in this benchmark every attempt
// belongs to an event of its own (no fan-out, the worst case for that
// table), so the fourth statement is one more single-statement request per
// attempt: at batch 64 / 64 in flight, 2716 and 3773 attempts/s against
// 3068 and 5090 without it (two runs each, 1.9 against 2.6 statements per
// batch). An event sent to many endpoints writes its rows into one
// partition, which coalesces like any other.
const (
	// DefaultMaxBatch: statements per single-partition UNLOGGED batch.
	DefaultMaxBatch = 64
	// DefaultMaxInFlight: batches being written at once.
	DefaultMaxInFlight = 64
	// DefaultMaxPending: statements queued or in flight before Write
	// blocks (each attempt is four statements), which bounds memory.
	DefaultMaxPending = 30000
	// DefaultRetryTimeout: how long a batch is retried through transient
	// errors before its callers get the error.
	DefaultRetryTimeout = 30 * time.Second
)

// ErrWriterClosed is returned by writes to a closed Writer.
var ErrWriterClosed = errors.New("cassandra: writer closed")

// WriterOptions shapes a Writer. Zero fields take the defaults.
type WriterOptions struct {
	MaxBatch     int
	MaxInFlight  int
	MaxPending   int
	RetryTimeout time.Duration
}

// WriterStats counts a Writer's work, for metrics.
type WriterStats struct {
	Batches    int64 // batches (or single statements) written
	Statements int64 // statements written
	Failed     int64 // statements that failed after retries
	Queued     int64 // statements waiting or in flight now
}

// Writer writes the delivery log for the pipeline. Calls from many
// goroutines are coalesced: their statements wait in per-partition queues
// while earlier batches are in flight, and each free slot takes the
// oldest partition's queue as one UNLOGGED batch. At low load a write
// goes out at once (no linger: latency comes first); under load batches
// grow by themselves, which is where the throughput comes from.
//
// WriteAttempts and PutDeadLetters return once everything they were given
// is durable (or failed), so a Kafka consumer can commit its offsets right
// after. When MaxPending statements are queued, they block until there is
// room (backpressure) or their context ends.
type Writer struct {
	s    *Store
	opts WriterOptions
	bo   backoff
	// execBatch writes one batch (Store.execBatch; tests inject failures).
	execBatch func(ctx context.Context, muts []mutation) error

	// tokens holds one token per statement queued or in flight.
	tokens chan struct{}
	kick   chan struct{}

	mu          sync.Mutex
	groups      map[string]*writeGroup
	order       []*writeGroup // partitions with queued statements, oldest first
	inflight    int
	closed      bool // no new writes
	stopped     bool // the dispatcher is gone: fail what is left
	outstanding map[*writeRequest]struct{}

	ctx    context.Context // ends on a forced close
	cancel context.CancelFunc
	done   chan struct{} // the dispatcher has exited
	execs  sync.WaitGroup

	batches, statements, failed atomic.Int64
}

type writeRequest struct {
	remaining atomic.Int64
	mu        sync.Mutex
	err       error
	done      chan struct{}
	w         *Writer
}

type queued struct {
	m   mutation
	req *writeRequest
}

type writeGroup struct {
	key   string
	items []queued
}

// NewWriter starts a Writer on s. Close it to stop its goroutine.
func NewWriter(s *Store, opts WriterOptions) *Writer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.RetryTimeout <= 0 {
		opts.RetryTimeout = DefaultRetryTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		s:           s,
		opts:        opts,
		bo:          backoff{first: 50 * time.Millisecond, limit: 2 * time.Second, maxElapsed: opts.RetryTimeout},
		tokens:      make(chan struct{}, opts.MaxPending),
		kick:        make(chan struct{}, 1),
		groups:      map[string]*writeGroup{},
		outstanding: map[*writeRequest]struct{}{},
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
	}
	w.execBatch = s.execBatch
	go w.run()
	return w
}

// WriteAttempts stores attempts and returns when they are durable. Its
// errors and skips are those of Store.WriteAttempts; ctx ending makes it
// return early, while what was queued is still written.
func (w *Writer) WriteAttempts(ctx context.Context, attempts []domain.Attempt) error {
	muts, hours, invalid := w.s.buildAttempts(attempts)
	if err := w.s.markHours(ctx, hours, w.bo); err != nil {
		return fmt.Errorf("cassandra: write attempts: %w", err)
	}
	if err := w.submit(ctx, muts); err != nil {
		return fmt.Errorf("cassandra: write attempts: %w", err)
	}
	if invalid != nil {
		return invalid
	}
	return nil
}

// PutDeadLetters stores dead letters and returns when they are durable,
// like WriteAttempts.
func (w *Writer) PutDeadLetters(ctx context.Context, dls []domain.DeadLetter) error {
	muts, invalid := w.s.buildDeadLetters(dls)
	if err := w.submit(ctx, muts); err != nil {
		return fmt.Errorf("cassandra: put dead letters: %w", err)
	}
	if invalid != nil {
		return invalid
	}
	return nil
}

// submit queues muts and waits until all are written or failed.
func (w *Writer) submit(ctx context.Context, muts []mutation) error {
	if len(muts) == 0 {
		return nil
	}
	req := &writeRequest{done: make(chan struct{}), w: w}
	req.remaining.Store(int64(len(muts)))
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrWriterClosed
	}
	w.outstanding[req] = struct{}{}
	w.mu.Unlock()

	for i := 0; i < len(muts); {
		// Wait for room for one statement, then take all the room there is,
		// so a write is queued in as few steps as the buffer allows and its
		// statements can share batches.
		select {
		case w.tokens <- struct{}{}:
		case <-ctx.Done():
			req.finish(len(muts)-i, ctx.Err())
			return ctx.Err()
		case <-w.ctx.Done():
			req.finish(len(muts)-i, ErrWriterClosed)
			return ErrWriterClosed
		}
		n := 1
	more:
		for i+n < len(muts) {
			select {
			case w.tokens <- struct{}{}:
				n++
			default:
				break more
			}
		}
		w.enqueue(muts[i:i+n], req)
		i += n
	}
	select {
	case <-req.done:
		req.mu.Lock()
		defer req.mu.Unlock()
		return req.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) enqueue(muts []mutation, req *writeRequest) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		w.release(len(muts))
		req.finish(len(muts), ErrWriterClosed)
		return
	}
	for _, m := range muts {
		g := w.groups[m.part]
		if g == nil {
			g = &writeGroup{key: m.part}
			w.groups[m.part] = g
			w.order = append(w.order, g)
		}
		g.items = append(g.items, queued{m: m, req: req})
	}
	w.mu.Unlock()
	w.signal()
}

func (w *Writer) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Writer) release(n int) {
	for range n {
		<-w.tokens
	}
}

// finish records that n statements of the request are done, with err if
// they failed.
func (r *writeRequest) finish(n int, err error) {
	if err != nil {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	if r.remaining.Add(-int64(n)) == 0 {
		r.w.mu.Lock()
		delete(r.w.outstanding, r)
		r.w.mu.Unlock()
		close(r.done)
	}
}

// run is the dispatcher: it starts a batch whenever a slot is free and
// statements are queued.
func (w *Writer) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for w.inflight < w.opts.MaxInFlight && len(w.order) > 0 {
			batch := w.takeLocked()
			w.inflight++
			w.execs.Go(func() { w.exec(batch) })
		}
		w.mu.Unlock()
		select {
		case <-w.kick:
		case <-w.ctx.Done():
			w.mu.Lock()
			w.stopped = true
			var left []queued
			for _, g := range w.order {
				left = append(left, g.items...)
			}
			w.order, w.groups = nil, map[string]*writeGroup{}
			w.mu.Unlock()
			for _, q := range left {
				w.release(1)
				q.req.finish(1, ErrWriterClosed)
			}
			w.execs.Wait()
			return
		}
	}
}

// takeLocked takes the next batch: up to MaxBatch statements (and about
// maxBatchBytes) of the partition that has waited longest. A partition with
// more left goes to the back, so one busy partition cannot starve others.
func (w *Writer) takeLocked() []queued {
	g := w.order[0]
	w.order[0] = nil
	w.order = w.order[1:]
	n, bytes := 0, 0
	for n < len(g.items) && n < w.opts.MaxBatch && (n == 0 || bytes+g.items[n].m.size <= maxBatchBytes) {
		bytes += g.items[n].m.size
		n++
	}
	batch := g.items[:n:n]
	g.items = g.items[n:]
	if len(g.items) > 0 {
		w.order = append(w.order, g)
	} else {
		delete(w.groups, g.key)
	}
	return batch
}

func (w *Writer) exec(batch []queued) {
	muts := make([]mutation, len(batch))
	for i, q := range batch {
		muts[i] = q.m
	}
	err := w.bo.do(w.ctx, func(ctx context.Context) error { return w.execBatch(ctx, muts) })
	if err != nil {
		err = fmt.Errorf("write %s: %w", muts[0].part, err)
		w.failed.Add(int64(len(batch)))
	} else {
		w.batches.Add(1)
		w.statements.Add(int64(len(batch)))
	}
	w.mu.Lock()
	w.inflight--
	w.mu.Unlock()
	w.release(len(batch))
	w.signal()
	for _, q := range batch {
		q.req.finish(1, err)
	}
}

// Flush waits until every write submitted before it is durable or failed
// (writes return only then anyway; Flush serves callers that gave up
// waiting through their context and still want the work finished).
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	waits := make([]chan struct{}, 0, len(w.outstanding))
	for r := range w.outstanding {
		waits = append(waits, r.done)
	}
	w.mu.Unlock()
	for _, d := range waits {
		select {
		case <-d:
		case <-ctx.Done():
			return fmt.Errorf("cassandra: writer flush: %w", ctx.Err())
		}
	}
	return nil
}

// Close stops taking writes, waits for the queued ones until ctx ends,
// then stops: writes still queued at that point fail with
// ErrWriterClosed, and the batches in flight are abandoned. It does not
// close the Store.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	err := w.Flush(ctx)
	w.cancel()
	<-w.done
	return err
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Batches:    w.batches.Load(),
		Statements: w.statements.Load(),
		Failed:     w.failed.Load(),
		Queued:     int64(len(w.tokens)),
	}
}
