package cassandra

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

func closeWriter(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Errorf("Writer.Close: %v", err)
	}
}

func TestWriterConcurrentCallersCoalesce(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	// One batch in flight at a time: callers arriving meanwhile queue up,
	// and their statements for a shared partition leave as one batch.
	w := NewWriter(s, WriterOptions{MaxInFlight: 1})
	ctx := testCtx(t)
	eps := []string{ids.New(ids.Endpoint), ids.New(ids.Endpoint), ids.New(ids.Endpoint)}
	now := time.Now()
	const callers, each = 24, 10
	written := make([][]domain.Attempt, callers)
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				a := testAttempt(eps[(c+i)%len(eps)], domain.OutcomeFailed, now.Add(-time.Duration(c*each+i)*time.Second))
				written[c] = append(written[c], a)
				// Every write returns durable: the attempt is readable now.
				if err := w.WriteAttempts(ctx, []domain.Attempt{a}); err != nil {
					errs[c] = err
					return
				}
				got, err := s.DeliveryAttempts(ctx, a.DeliveryID)
				if err != nil || len(got) != 1 {
					errs[c] = fmt.Errorf("attempt %s not readable after its write returned: %v, %w", a.ID, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		page, err := s.ListAttempts(ctx, domain.AttemptFilter{EndpointID: ep}, storage.PageRequest{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != callers*each/len(eps) {
			t.Errorf("endpoint %s: %d attempts listed, want %d", ep, len(page.Items), callers*each/len(eps))
		}
	}
	st := w.Stats()
	// Four statements per attempt: the full record and three index rows.
	if st.Statements != 4*callers*each || st.Failed != 0 {
		t.Errorf("stats %+v: want %d statements, none failed", st, 4*callers*each)
	}
	if st.Batches >= st.Statements {
		t.Errorf("stats %+v: no batch held more than one statement; writes were not coalesced", st)
	}
	closeWriter(t, w)
	if err := w.WriteAttempts(ctx, []domain.Attempt{testAttempt(eps[0], domain.OutcomeFailed, now)}); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("write after Close: %v, want ErrWriterClosed", err)
	}
}

func TestWriterDeadLettersAndInvalidRecords(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	w := NewWriter(s, WriterOptions{})
	defer closeWriter(t, w)
	ctx := testCtx(t)
	ep := ids.New(ids.Endpoint)
	d := domain.DeadLetter{DeliveryID: "msg_1", EndpointID: ep, Reason: domain.ReasonExhausted, DeadAt: time.Now().Truncate(time.Millisecond), Payload: []byte("{}")}
	err := w.PutDeadLetters(ctx, []domain.DeadLetter{d, {EndpointID: ep}})
	if !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("PutDeadLetters with an invalid one: %v", err)
	}
	got, err := s.GetDeadLetter(ctx, ep, "msg_1")
	if err != nil || !got.DeadAt.Equal(d.DeadAt) {
		t.Fatalf("the valid dead letter: %+v, %v", got, err)
	}
	a := testAttempt(ep, domain.OutcomeFailed, time.Now())
	bad := a
	bad.DeliveryID = ""
	if err := w.WriteAttempts(ctx, []domain.Attempt{bad, a}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("WriteAttempts with an invalid one: %v", err)
	}
	if as, err := s.DeliveryAttempts(ctx, a.DeliveryID); err != nil || len(as) != 1 {
		t.Fatalf("the valid attempt: %v, %v", as, err)
	}
	// Nothing to write is no work.
	if err := w.WriteAttempts(ctx, nil); err != nil {
		t.Errorf("WriteAttempts(nil): %v", err)
	}
}

func TestWriterRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	w := NewWriter(s, WriterOptions{RetryTimeout: 10 * time.Second})
	defer closeWriter(t, w)
	var calls atomic.Int64
	w.execBatch = func(ctx context.Context, muts []mutation) error {
		// Every batch times out twice, then goes through.
		if calls.Add(1)%3 != 0 {
			return &gocql.RequestErrWriteTimeout{}
		}
		return s.execBatch(ctx, muts)
	}
	ctx := testCtx(t)
	a := testAttempt(ids.New(ids.Endpoint), domain.OutcomeFailed, time.Now())
	if err := w.WriteAttempts(ctx, []domain.Attempt{a}); err != nil {
		t.Fatalf("WriteAttempts through transient errors: %v", err)
	}
	if as, err := s.DeliveryAttempts(ctx, a.DeliveryID); err != nil || len(as) != 1 {
		t.Fatalf("after retries: %v, %v", as, err)
	}
	if n := calls.Load(); n != 12 {
		t.Errorf("%d calls for 4 batches that fail twice each, want 12", n)
	}

	// A permanent error fails at once.
	calls.Store(0)
	w.execBatch = func(context.Context, []mutation) error {
		calls.Add(1)
		return &gocql.RequestErrInvalid{}
	}
	start := time.Now()
	err := w.WriteAttempts(ctx, []domain.Attempt{testAttempt(ids.New(ids.Endpoint), domain.OutcomeFailed, time.Now())})
	var invalid *gocql.RequestErrInvalid
	if !errors.As(err, &invalid) || time.Since(start) > 5*time.Second || calls.Load() != 4 {
		t.Errorf("permanent error: %v after %s and %d calls; want it at once, one call per batch", err, time.Since(start), calls.Load())
	}
}

func TestWriterGivesUpAfterRetryTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	w := NewWriter(s, WriterOptions{RetryTimeout: 300 * time.Millisecond})
	defer closeWriter(t, w)
	w.execBatch = func(context.Context, []mutation) error { return gocql.ErrTimeoutNoResponse }
	err := w.WriteAttempts(testCtx(t), []domain.Attempt{testAttempt(ids.New(ids.Endpoint), domain.OutcomeFailed, time.Now())})
	if !errors.Is(err, gocql.ErrTimeoutNoResponse) {
		t.Fatalf("WriteAttempts against a dead cluster: %v", err)
	}
	if st := w.Stats(); st.Failed != 4 || st.Queued != 0 {
		t.Errorf("stats %+v: want 4 failed statements and nothing queued", st)
	}
}

func TestWriterBackpressure(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	w := NewWriter(s, WriterOptions{MaxPending: 4})
	defer closeWriter(t, w)
	ctx := testCtx(t)
	ep := ids.New(ids.Endpoint)

	// A write larger than the buffer goes through in steps.
	var many []domain.Attempt
	for i := range 20 {
		many = append(many, testAttempt(ep, domain.OutcomeFailed, time.Now().Add(-time.Duration(i)*time.Second)))
	}
	if err := w.WriteAttempts(ctx, many); err != nil {
		t.Fatalf("write of 80 statements through a buffer of 4: %v", err)
	}

	// With the buffer full, a write waits, and gives up with its context.
	for range cap(w.tokens) {
		w.tokens <- struct{}{}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	blocked := testAttempt(ep, domain.OutcomeFailed, time.Now())
	if err := w.WriteAttempts(short, []domain.Attempt{blocked}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write into a full buffer: %v, want DeadlineExceeded", err)
	}
	// Room again: the next write goes through.
	done := make(chan error, 1)
	go func() { done <- w.WriteAttempts(ctx, []domain.Attempt{blocked}) }()
	select {
	case err := <-done:
		t.Fatalf("write returned while the buffer was full: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	w.release(cap(w.tokens))
	if err := <-done; err != nil {
		t.Fatalf("write after room was made: %v", err)
	}
	if as, err := s.DeliveryAttempts(ctx, blocked.DeliveryID); err != nil || len(as) != 1 {
		t.Fatalf("the blocked attempt: %v, %v", as, err)
	}
}

func TestWriterCloseWaitsAndForcedCloseFails(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	ctx := testCtx(t)

	// A graceful close waits for queued writes.
	w := NewWriter(s, WriterOptions{MaxInFlight: 1})
	release := make(chan struct{})
	w.execBatch = func(ctx context.Context, muts []mutation) error {
		<-release
		return s.execBatch(ctx, muts)
	}
	a := testAttempt(ids.New(ids.Endpoint), domain.OutcomeFailed, time.Now())
	wrote := make(chan error, 1)
	go func() { wrote <- w.WriteAttempts(ctx, []domain.Attempt{a}) }()
	waitQueued(t, w, 4)
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned with writes queued: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-wrote; err != nil {
		t.Fatalf("write during a graceful close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("graceful Close: %v", err)
	}

	// A close whose context ends fails what is still queued.
	w = NewWriter(s, WriterOptions{MaxInFlight: 1})
	stuck := make(chan struct{})
	w.execBatch = func(ctx context.Context, _ []mutation) error {
		select {
		case <-stuck:
		case <-ctx.Done():
		}
		return ctx.Err()
	}
	go func() {
		wrote <- w.WriteAttempts(ctx, []domain.Attempt{testAttempt(ids.New(ids.Endpoint), domain.OutcomeFailed, time.Now())})
	}()
	waitQueued(t, w, 4)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := w.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("forced Close: %v, want DeadlineExceeded", err)
	}
	if err := <-wrote; err == nil {
		t.Error("a write abandoned by a forced close succeeded")
	}
	close(stuck)
}

// waitQueued waits until n statements are queued or in flight.
func waitQueued(t *testing.T, w *Writer, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Queued < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d statements queued, want %d", w.Stats().Queued, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&gocql.RequestErrWriteTimeout{}, true},
		{&gocql.RequestErrUnavailable{}, true},
		{&gocql.RequestErrOverloaded{}, true},
		{fmt.Errorf("wrapped: %w", &gocql.RequestErrReadTimeout{}), true},
		{gocql.ErrTimeoutNoResponse, true},
		{gocql.ErrConnectionClosed, true},
		{gocql.ErrNoConnections, true},
		{context.DeadlineExceeded, true},
		{&gocql.RequestErrInvalid{}, false},
		{&gocql.RequestErrSyntax{}, false},
		{&gocql.RequestErrUnauthorized{}, false},
		{gocql.MarshalError("bad value"), false},
		{gocql.ErrSessionClosed, false},
		{context.Canceled, false},
		{invalidf("no id"), false},
		{nil, false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%T %v) = %v, want %v", tc.err, tc.err, got, tc.want)
		}
	}
}

func TestGroupBatches(t *testing.T) {
	t.Parallel()
	m := func(part string, size int) mutation { return mutation{part: part, size: size} }
	muts := []mutation{m("a", 10), m("b", 10), m("a", 10), m("a", 10), m("c", maxBatchBytes), m("c", 1), m("a", 10)}
	var got []string
	for _, b := range groupBatches(muts, 3) {
		got = append(got, fmt.Sprintf("%s×%d", b[0].part, len(b)))
		for _, x := range b {
			if x.part != b[0].part {
				t.Errorf("batch mixes partitions %s and %s", b[0].part, x.part)
			}
		}
	}
	want := "[a×3 a×1 b×1 c×1 c×1]"
	if fmt.Sprint(got) != want {
		t.Errorf("groupBatches: %v, want %s", got, want)
	}
}
