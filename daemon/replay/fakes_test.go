package replay_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/replay"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/storage"
)

// clock is a settable clock shared by the runner and the fakes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeJobs is an in-memory storage.ReplayJobStore, with the contract's
// refusal of updates to final jobs.
type fakeJobs struct {
	now func() time.Time

	mu      sync.Mutex
	jobs    map[string]domain.ReplayJob
	keys    map[string]string
	updates []update
	// failUpdate, when set, can fail an UpdateReplayJob call.
	failUpdate func(domain.ReplayJob) error
}

type update struct {
	job domain.ReplayJob
	at  time.Time // real time, for heartbeat spacing
	err error
}

var _ storage.ReplayJobStore = (*fakeJobs)(nil)

func newFakeJobs(now func() time.Time) *fakeJobs {
	return &fakeJobs{now: now, jobs: map[string]domain.ReplayJob{}, keys: map[string]string{}}
}

func final(state string) bool {
	return state == domain.ReplayDone || state == domain.ReplayFailed || state == domain.ReplayCanceled
}

func (f *fakeJobs) CreateReplayJob(_ context.Context, job domain.ReplayJob) (domain.ReplayJob, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.keys[job.IdempotencyKey]; ok && job.IdempotencyKey != "" {
		return f.jobs[id], false, nil
	}
	if _, ok := f.jobs[job.ID]; ok {
		return job, false, storage.ErrConflict
	}
	job.UpdatedAt = job.CreatedAt
	f.jobs[job.ID] = job
	if job.IdempotencyKey != "" {
		f.keys[job.IdempotencyKey] = job.ID
	}
	return job, true, nil
}

func (f *fakeJobs) GetReplayJob(_ context.Context, id string) (domain.ReplayJob, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return j, storage.ErrNotFound
	}
	return j, nil
}

func (f *fakeJobs) UpdateReplayJob(_ context.Context, job domain.ReplayJob) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer func() { f.updates = append(f.updates, update{job: job, at: time.Now(), err: err}) }()
	if f.failUpdate != nil {
		if err := f.failUpdate(job); err != nil {
			return err
		}
	}
	old, ok := f.jobs[job.ID]
	switch {
	case !ok:
		return storage.ErrNotFound
	case final(old.State):
		return storage.ErrConflict
	}
	old.State, old.Total, old.Replayed, old.Skipped, old.Failed = job.State, job.Total, job.Replayed, job.Skipped, job.Failed
	old.Error, old.FinishedAt, old.UpdatedAt = job.Error, job.FinishedAt, f.now()
	f.jobs[job.ID] = old
	return nil
}

func (f *fakeJobs) ListReplayJobs(context.Context, storage.PageRequest) (storage.Page[domain.ReplayJob], error) {
	panic("not used")
}

func (f *fakeJobs) CancelReplayJob(_ context.Context, id string, at time.Time) (domain.ReplayJob, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	switch {
	case !ok:
		return j, storage.ErrNotFound
	case final(j.State):
		return j, storage.ErrConflict
	}
	j.State, j.FinishedAt, j.UpdatedAt = domain.ReplayCanceled, &at, f.now()
	f.jobs[id] = j
	return j, nil
}

func (f *fakeJobs) ClaimStaleReplayJob(_ context.Context, staleBefore, now time.Time) (domain.ReplayJob, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var stale []domain.ReplayJob
	for _, j := range f.jobs {
		if !final(j.State) && j.UpdatedAt.Before(staleBefore) {
			stale = append(stale, j)
		}
	}
	if len(stale) == 0 {
		return domain.ReplayJob{}, false, nil
	}
	j := slices.MinFunc(stale, func(a, b domain.ReplayJob) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	j.UpdatedAt = now
	f.jobs[j.ID] = j
	return j, true, nil
}

func (f *fakeJobs) put(j domain.ReplayJob) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[j.ID] = j
}

func (f *fakeJobs) get(id string) domain.ReplayJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs[id]
}

func (f *fakeJobs) updatesOf(id string) []update {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []update
	for _, u := range f.updates {
		if u.job.ID == id {
			out = append(out, u)
		}
	}
	return out
}

// fakeDLQ is an in-memory dead-letter queue with the store's ordering
// (newest first), filters and position cursors.
type fakeDLQ struct {
	mu    sync.Mutex
	dls   map[string]domain.DeadLetter // by delivery id
	lists int
	marks int
	// failList, when set, can fail a ListDeadLetters call.
	failList func(call int) error
}

var _ replay.DeadLetters = (*fakeDLQ)(nil)

func newFakeDLQ(dls ...domain.DeadLetter) *fakeDLQ {
	q := &fakeDLQ{dls: map[string]domain.DeadLetter{}}
	for _, d := range dls {
		q.dls[d.DeliveryID] = d
	}
	return q
}

type dlqCursor struct {
	MS int64  `json:"ms"`
	ID string `json:"id"`
}

func (q *fakeDLQ) ListDeadLetters(_ context.Context, f domain.DeadLetterFilter, p storage.PageRequest) (storage.Page[domain.DeadLetter], error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lists++
	if q.failList != nil {
		if err := q.failList(q.lists); err != nil {
			return storage.Page[domain.DeadLetter]{}, err
		}
	}
	var after *dlqCursor
	if p.Cursor != "" {
		after = &dlqCursor{}
		if err := storage.DecodeCursor(p.Cursor, after); err != nil {
			return storage.Page[domain.DeadLetter]{}, err
		}
	}
	var all []domain.DeadLetter
	for _, d := range q.dls {
		ms := d.DeadAt.UnixMilli()
		switch {
		case f.EndpointID != "" && d.EndpointID != f.EndpointID,
			f.Reason != "" && d.Reason != f.Reason,
			f.EventType != "" && d.EventType != f.EventType,
			f.TenantID != "" && d.TenantID != f.TenantID,
			!f.Since.IsZero() && ms < f.Since.UnixMilli(),
			!f.Until.IsZero() && ms >= f.Until.UnixMilli(),
			after != nil && (ms > after.MS || ms == after.MS && d.DeliveryID >= after.ID):
			continue
		}
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b domain.DeadLetter) int {
		if c := b.DeadAt.Compare(a.DeadAt); c != 0 {
			return c
		}
		return cmp.Compare(b.DeliveryID, a.DeliveryID)
	})
	var page storage.Page[domain.DeadLetter]
	if n := p.Size(); len(all) > n {
		all = all[:n]
		last := all[n-1]
		page.NextCursor = storage.EncodeCursor(dlqCursor{MS: last.DeadAt.UnixMilli(), ID: last.DeliveryID})
	}
	page.Items = all
	return page, nil
}

func (q *fakeDLQ) MarkReplayed(_ context.Context, _, deliveryID string, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.marks++
	d, ok := q.dls[deliveryID]
	if !ok {
		return storage.ErrNotFound
	}
	at = at.Truncate(time.Millisecond)
	d.ReplayedAt = &at
	q.dls[deliveryID] = d
	return nil
}

func (q *fakeDLQ) get(id string) domain.DeadLetter {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dls[id]
}

func (q *fakeDLQ) counts() (lists, marks int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lists, q.marks
}

// fakeProducer records what it is asked to produce; before, when set,
// runs first and can block or fail the call.
type fakeProducer struct {
	mu     sync.Mutex
	calls  int
	active int
	peak   int
	msgs   []*sarama.ProducerMessage
	before func(ctx context.Context, call int, msgs []*sarama.ProducerMessage) error
}

var _ replay.Producer = (*fakeProducer)(nil)

func (p *fakeProducer) Produce(ctx context.Context, msgs []*sarama.ProducerMessage) error {
	p.mu.Lock()
	p.calls++
	call := p.calls
	p.active++
	p.peak = max(p.peak, p.active)
	before := p.before
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.active--
		p.mu.Unlock()
	}()
	if before != nil {
		if err := before(ctx, call, msgs); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	p.msgs = append(p.msgs, msgs...)
	p.mu.Unlock()
	return nil
}

// records decodes what was produced.
func (p *fakeProducer) records(t *testing.T) []kafka.RetryRecord {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]kafka.RetryRecord, len(p.msgs))
	for i, m := range p.msgs {
		b, err := m.Value.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = kafka.DecodeRetryRecord(b); err != nil {
			t.Fatalf("produced record %d: %v", i, err)
		}
	}
	return out
}

func (p *fakeProducer) stats() (calls, produced, peak int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, len(p.msgs), p.peak
}

// deadLetter makes the n-th dead letter of endpoint ep, dead at
// 10 minutes + n seconds before base, with a payload hookd would make.
func deadLetter(t testing.TB, ep string, n int, base time.Time) domain.DeadLetter {
	t.Helper()
	ev := domain.Event{
		ID: fmt.Sprintf("evt_%s_%03d", ep, n), Type: "order.created", TenantID: "acme",
		Time: base.Add(-time.Hour), Data: json.RawMessage(`{"n":` + strconv.Itoa(n) + `,"s":"caf\u00e9"}`),
	}
	payload, err := events.Payload(ev)
	if err != nil {
		t.Fatal(err)
	}
	return domain.DeadLetter{
		DeliveryID: domain.DeliveryID(ev.ID, ep), EventID: ev.ID, EventType: ev.Type, EndpointID: ep,
		TenantID: ev.TenantID, Reason: domain.ReasonExhausted, LastError: "HTTP 500", LastStatusCode: 500,
		Attempts: 8, Generation: n % 3, DeadAt: base.Add(-10*time.Minute - time.Duration(n)*time.Second).Truncate(time.Millisecond),
		Payload: payload,
	}
}

// malformedLetter is the dead letter of a Kafka message that was not an
// event: no endpoint, raw bytes.
func malformedLetter(n int, base time.Time) domain.DeadLetter {
	return domain.DeadLetter{
		DeliveryID: fmt.Sprintf("msg_malformed_%d", n), EventID: fmt.Sprintf("events/0/%d", n), Reason: domain.ReasonMalformed,
		DeadAt: base.Add(-5 * time.Minute).Truncate(time.Millisecond), Payload: []byte("{not json"),
	}
}
