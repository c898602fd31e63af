package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// mutation is one idempotent write statement. part names the table and
// partition it writes, so writes to the same partition can share an
// UNLOGGED batch: a single-partition batch is applied as one mutation on
// one replica set, which is cheaper than separate statements, while a
// batch spanning partitions would make its coordinator fan out and is
// avoided.
type mutation struct {
	part string
	stmt string
	args []any
	size int // rough encoded size, to bound batches
}

// maxBatchBytes bounds one batch. Single-partition batches are exempt from
// Cassandra's batch_size_fail_threshold, but a mutation must stay well
// below max_mutation_size (half the commit-log segment, 16 MiB by
// default), and smaller requests keep latency even.
const maxBatchBytes = 512 << 10

// groupBatches groups mutations by partition, keeping their order, and
// cuts each group into batches of at most maxBatch statements and about
// maxBatchBytes.
func groupBatches(muts []mutation, maxBatch int) [][]mutation {
	if maxBatch < 1 {
		maxBatch = 1
	}
	index := map[string]int{}
	var groups [][]mutation
	for _, m := range muts {
		i, ok := index[m.part]
		if !ok {
			i = len(groups)
			index[m.part] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], m)
	}
	var out [][]mutation
	for _, g := range groups {
		for len(g) > 0 {
			n, bytes := 0, 0
			for n < len(g) && n < maxBatch && (n == 0 || bytes+g[n].size <= maxBatchBytes) {
				bytes += g[n].size
				n++
			}
			out = append(out, g[:n:n])
			g = g[n:]
		}
	}
	return out
}

// execBatch writes one single-partition group: a plain statement when it
// holds one, an UNLOGGED batch otherwise. It does not retry; callers do,
// with backoff, because every statement is idempotent.
func (s *Store) execBatch(ctx context.Context, muts []mutation) error {
	if len(muts) == 1 {
		return s.session.Query(muts[0].stmt, muts[0].args...).
			Consistency(s.cons).Idempotent(true).RetryPolicy(nil).ExecContext(ctx)
	}
	b := s.session.Batch(gocql.UnloggedBatch).Consistency(s.cons).RetryPolicy(nil)
	b.Entries = make([]gocql.BatchEntry, len(muts))
	for i, m := range muts {
		b.Entries[i] = gocql.BatchEntry{Stmt: m.stmt, Args: m.args, Idempotent: true}
	}
	return b.ExecContext(ctx)
}

// backoff is a retry schedule: exponential from min to max with full
// jitter (first doubling up to limit), for at most maxElapsed (0: until the context ends).
type backoff struct {
	first, limit, maxElapsed time.Duration
}

// do runs fn until it succeeds, fails with a permanent error, ctx ends or
// the schedule's time is up. Retrying is safe because every write hookd
// makes is an idempotent upsert.
func (b backoff) do(ctx context.Context, fn func(context.Context) error) error {
	start := time.Now()
	delay := b.first
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		if b.maxElapsed > 0 && time.Since(start)+delay > b.maxElapsed {
			return fmt.Errorf("gave up after %d attempts in %s: %w", attempt, time.Since(start).Round(time.Millisecond), err)
		}
		t := time.NewTimer(delay/2 + rand.N(delay/2+1)) //nolint:gosec // jitter needs no cryptographic randomness
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(delay*2, b.limit)
	}
}

// transient reports whether a write that failed with err may succeed if
// tried again: timeouts, unavailable or overloaded replicas, lost
// connections. Errors in the request itself (syntax, invalid values,
// authorization, marshaling) fail the same way every time.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, gocql.ErrSessionClosed) {
		return false
	}
	var marshal gocql.MarshalError
	if errors.As(err, &marshal) {
		return false
	}
	var invalid *invalidRecordError
	if errors.As(err, &invalid) {
		return false
	}
	var (
		invalidReq   *gocql.RequestErrInvalid
		syntax       *gocql.RequestErrSyntax
		unauthorized *gocql.RequestErrUnauthorized
		config       *gocql.RequestErrConfig
		credentials  *gocql.RequestErrCredentials
		exists       *gocql.RequestErrAlreadyExists
		function     *gocql.RequestErrFunctionFailure
	)
	if errors.As(err, &invalidReq) || errors.As(err, &syntax) || errors.As(err, &unauthorized) || errors.As(err, &config) ||
		errors.As(err, &credentials) || errors.As(err, &exists) || errors.As(err, &function) {
		return false
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeProtocol, gocql.ErrCodeCredentials, gocql.ErrCodeSyntax, gocql.ErrCodeUnauthorized,
			gocql.ErrCodeInvalid, gocql.ErrCodeConfig, gocql.ErrCodeAlreadyExists, gocql.ErrCodeFunctionFailure:
			return false
		}
		// Unavailable, overloaded, bootstrapping, read and write timeouts
		// and failures, server errors.
		return true
	}
	// Driver-side timeouts, closed connections, no hosts up, network errors.
	return true
}

// invalidRecordError reports a record that can never be written.
type invalidRecordError struct{ msg string }

func (e *invalidRecordError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidRecordError{msg: fmt.Sprintf(format, args...)}
}

// execAll writes batches, at most parallel at once, each retried by bo.
// It returns the first error after every batch has finished.
func (s *Store) execAll(ctx context.Context, batches [][]mutation, parallel int, bo backoff) error {
	if len(batches) == 0 {
		return nil
	}
	if parallel < 1 {
		parallel = 1
	}
	sem := make(chan struct{}, parallel)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, b := range batches {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			if firstErr == nil {
				firstErr = ctx.Err()
			}
			return firstErr
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := bo.do(ctx, func(ctx context.Context) error { return s.execBatch(ctx, b) })
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("write %s: %w", b[0].part, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return firstErr
}
