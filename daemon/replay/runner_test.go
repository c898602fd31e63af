package replay_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/dispatch"
	"github.com/hookd/hookd/daemon/replay"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

type env struct {
	t     *testing.T
	clock *clock
	jobs  *fakeJobs
	dlq   *fakeDLQ
	prod  *fakeProducer
	opts  replay.Options
	r     *replay.Runner
}

// newEnv makes a runner on fakes with fast test timings; edit changes
// the options first.
func newEnv(t *testing.T, edit func(*replay.Options), dls ...domain.DeadLetter) *env {
	t.Helper()
	c := newClock()
	e := &env{t: t, clock: c, jobs: newFakeJobs(c.Now), dlq: newFakeDLQ(dls...), prod: &fakeProducer{}}
	e.opts = replay.Options{
		Heartbeat: 10 * time.Millisecond, StaleAfter: time.Minute, PollEvery: 20 * time.Millisecond,
		PageSize: 2, RetryBackoff: 5 * time.Millisecond, StopGrace: 50 * time.Millisecond,
		Now: c.Now, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&e.opts)
	}
	e.r = replay.New(e.jobs, e.dlq, e.prod, e.opts)
	return e
}

// start runs r until the test ends (or stop is called) and returns stop,
// which ends Run and reports how long Run took to return.
func (e *env) start(r *replay.Runner) (stop func() time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			cancel()
			began := time.Now()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				e.t.Fatal("Run did not return 10s after its context ended")
			}
			took = time.Since(began)
		})
		return took
	}
	e.t.Cleanup(func() { stop() })
	return stop
}

func (e *env) submit(job domain.ReplayJob) domain.ReplayJob {
	e.t.Helper()
	stored, created, err := e.r.Submit(context.Background(), job)
	if err != nil || !created {
		e.t.Fatalf("Submit: created %v, err %v", created, err)
	}
	return stored
}

// waitJob waits until the stored job satisfies cond.
func (e *env) waitJob(id, what string, cond func(domain.ReplayJob) bool) domain.ReplayJob {
	e.t.Helper()
	var j domain.ReplayJob
	waitFor(e.t, what, func() bool { j = e.jobs.get(id); return cond(j) })
	return j
}

func (e *env) waitFinal(id string) domain.ReplayJob {
	e.t.Helper()
	return e.waitJob(id, "job "+id+" to end", func(j domain.ReplayJob) bool { return final(j.State) })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func counts(j domain.ReplayJob) [4]int64 { return [4]int64{j.Total, j.Replayed, j.Skipped, j.Failed} }

func ptr[T any](v T) *T { return &v }

func deliveryIDs(recs []replayRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.DeliveryID
	}
	slices.Sort(out)
	return out
}

type replayRecord = struct {
	DeliveryID string
	Generation int
}

func (e *env) produced() []replayRecord {
	var out []replayRecord
	for _, r := range e.prod.records(e.t) {
		out = append(out, replayRecord{r.DeliveryID, r.Generation})
	}
	return out
}

func TestReplayJobReplaysEveryMatchingDeadLetter(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	var dls []domain.DeadLetter
	for i := range 7 {
		dls = append(dls, deadLetter(t, "ep_a", i, base))
	}
	other := deadLetter(t, "ep_b", 0, base)
	e := newEnv(t, func(o *replay.Options) { o.PageSize = 3 }, append(dls, other, malformedLetter(1, base))...)
	e.start(e.r)

	job := e.submit(domain.ReplayJob{Filter: domain.DeadLetterFilter{EndpointID: "ep_a"}, CreatedBy: "key_1"})
	if !ids.HasPrefix(job.ID, ids.ReplayJob) || job.State != domain.ReplayPending || !job.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("stored job %+v: want a fresh rpl id, pending, created now", job)
	}
	got := e.waitFinal(job.ID)
	if got.State != domain.ReplayDone || got.FinishedAt == nil || got.Error != "" {
		t.Fatalf("job ended %+v, want done", got)
	}
	if c := counts(got); c != [4]int64{7, 7, 0, 0} {
		t.Errorf("total, replayed, skipped, failed = %v, want [7 7 0 0]", c)
	}

	recs := e.prod.records(t)
	if len(recs) != 7 {
		t.Fatalf("%d replays produced, want 7", len(recs))
	}
	calls, _, _ := e.prod.stats()
	if calls != 3 {
		t.Errorf("%d Produce calls for 7 entries in pages of 3, want one per page", calls)
	}
	byID := map[string]domain.DeadLetter{}
	for _, d := range dls {
		byID[d.DeliveryID] = d
	}
	for _, rec := range recs {
		d, ok := byID[rec.DeliveryID]
		if !ok {
			t.Errorf("replayed %s, which the filter does not match", rec.DeliveryID)
			continue
		}
		delete(byID, rec.DeliveryID)
		if rec.EndpointID != d.EndpointID || rec.Generation != d.Generation+1 || rec.Attempt != 1 || !rec.DueAt.Equal(e.clock.Now()) {
			t.Errorf("replay of %s: %+v, want endpoint %s, generation %d, attempt 1, due now", d.DeliveryID, rec, d.EndpointID, d.Generation+1)
		}
		if m := e.dlq.get(d.DeliveryID); m.ReplayedAt == nil || !m.ReplayedAt.Equal(e.clock.Now()) {
			t.Errorf("dead letter %s replayed_at %v, want now", d.DeliveryID, m.ReplayedAt)
		}
	}
	if e.dlq.get(other.DeliveryID).ReplayedAt != nil {
		t.Error("a dead letter of another endpoint was marked replayed")
	}
}

func TestReplayCountingPassStoresTotalBeforeReplaying(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	var dls []domain.DeadLetter
	for i := range 5 {
		dls = append(dls, deadLetter(t, "ep_a", i, base))
	}
	e := newEnv(t, nil, dls...)
	release := make(chan struct{})
	e.prod.before = func(ctx context.Context, _ int, _ []*sarama.ProducerMessage) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	e.start(e.r)
	job := e.submit(domain.ReplayJob{})
	// While the first page is held in Produce, the stored job already
	// shows the total, so a client can draw its progress bar.
	e.waitJob(job.ID, "the total to be stored", func(j domain.ReplayJob) bool {
		return j.State == domain.ReplayRunning && j.Total == 5 && j.Replayed == 0
	})
	close(release)
	if got := e.waitFinal(job.ID); counts(got) != [4]int64{5, 5, 0, 0} {
		t.Errorf("job ended %+v", got)
	}
	// Progress never went backwards nor beyond the total.
	var last int64
	for _, u := range e.jobs.updatesOf(job.ID) {
		done := u.job.Replayed + u.job.Skipped + u.job.Failed
		if done < last || (u.job.Total != 0 && done > u.job.Total) {
			t.Errorf("progress %d after %d, total %d", done, last, u.job.Total)
		}
		last = done
	}
}

func guardFixture(t *testing.T, base time.Time) []domain.DeadLetter {
	recent := deadLetter(t, "ep_a", 1, base)
	recent.ReplayedAt = ptr(base.Add(-10 * time.Minute))
	old := deadLetter(t, "ep_a", 2, base)
	old.ReplayedAt = ptr(base.Add(-2 * time.Hour))
	never := deadLetter(t, "ep_a", 3, base)
	tampered := deadLetter(t, "ep_a", 4, base)
	tampered.Payload = append([]byte(" "), tampered.Payload...)
	return []domain.DeadLetter{recent, old, never, tampered, malformedLetter(5, base)}
}

func TestReplayGuardSkipsRecentReplaysUnlessForced(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	dls := guardFixture(t, base)
	for _, force := range []bool{false, true} {
		e := newEnv(t, nil, dls...)
		e.start(e.r)
		got := e.waitFinal(e.submit(domain.ReplayJob{Force: force}).ID)
		want := [4]int64{5, 2, 1, 2} // the tampered and the malformed fail
		wantIDs := []string{dls[1].DeliveryID, dls[2].DeliveryID}
		if force {
			want = [4]int64{5, 3, 0, 2}
			wantIDs = append(wantIDs, dls[0].DeliveryID)
		}
		if got.State != domain.ReplayDone || counts(got) != want {
			t.Errorf("force=%v: job ended %s with %v, want done with %v", force, got.State, counts(got), want)
		}
		slices.Sort(wantIDs)
		if ids := deliveryIDs(e.produced()); !slices.Equal(ids, wantIDs) {
			t.Errorf("force=%v: replayed %v, want %v", force, ids, wantIDs)
		}
	}
}

func TestReplayEntriesReplayedSinceTheJobWasMadeAreNeverReplayedAgain(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	atCreation := deadLetter(t, "ep_a", 1, base)
	atCreation.ReplayedAt = ptr(base) // the same millisecond as CreatedAt
	after := deadLetter(t, "ep_a", 2, base)
	after.ReplayedAt = ptr(base.Add(time.Second))
	justBefore := deadLetter(t, "ep_a", 3, base)
	justBefore.ReplayedAt = ptr(base.Add(-time.Millisecond))
	// Died after the job was made (a replay that failed again): not the
	// job's business, not even counted.
	later := deadLetter(t, "ep_a", 4, base)
	later.DeadAt = base.Add(time.Millisecond)

	e := newEnv(t, nil, atCreation, after, justBefore, later)
	e.start(e.r)
	got := e.waitFinal(e.submit(domain.ReplayJob{Force: true}).ID)
	if counts(got) != [4]int64{3, 1, 2, 0} {
		t.Errorf("forced job counts %v, want total 3, replayed 1, skipped 2", counts(got))
	}
	if ids := deliveryIDs(e.produced()); !slices.Equal(ids, []string{justBefore.DeliveryID}) {
		t.Errorf("replayed %v, want only %s", ids, justBefore.DeliveryID)
	}
}

func TestReplayCancelStopsAJobAtOnce(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	var dls []domain.DeadLetter
	for i := range 6 {
		dls = append(dls, deadLetter(t, "ep_a", i, base))
	}
	e := newEnv(t, nil, dls...)
	inProduce := make(chan struct{})
	ctxEnded := make(chan struct{})
	e.prod.before = func(ctx context.Context, call int, _ []*sarama.ProducerMessage) error {
		if call == 1 {
			close(inProduce)
			<-ctx.Done() // held until the job is stopped
			close(ctxEnded)
		}
		return ctx.Err()
	}
	e.start(e.r)
	job := e.submit(domain.ReplayJob{})
	<-inProduce
	lists, _ := e.dlq.counts()
	canceled, err := e.jobs.CancelReplayJob(context.Background(), job.ID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctxEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the Produce under way was not stopped after the job was canceled")
	}
	time.Sleep(100 * time.Millisecond) // room for any wrong extra work
	calls, produced, _ := e.prod.stats()
	lists2, marks := e.dlq.counts()
	if calls != 1 || produced != 0 || marks != 0 || lists2 != lists {
		t.Errorf("after cancel: %d produce calls, %d produced, %d marks, %d more lists; want nothing more", calls, produced, marks, lists2-lists)
	}
	if got := e.jobs.get(job.ID); got.State != domain.ReplayCanceled || !got.FinishedAt.Equal(*canceled.FinishedAt) {
		t.Errorf("job %+v, want it left canceled", got)
	}
	// The runner is free for other work.
	e.prod.before = nil
	if got := e.waitFinal(e.submit(domain.ReplayJob{}).ID); got.State != domain.ReplayDone || got.Replayed != 6 {
		t.Errorf("next job %+v", got)
	}
}

func TestReplayJobCanceledBeforeItStartsNeverRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, deadLetter(t, "ep_a", 1, newClock().Now()))
	job := e.submit(domain.ReplayJob{})
	if _, err := e.jobs.CancelReplayJob(context.Background(), job.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.start(e.r)
	waitFor(t, "the runner to try the job", func() bool { return len(e.jobs.updatesOf(job.ID)) > 0 })
	time.Sleep(50 * time.Millisecond)
	if calls, _, _ := e.prod.stats(); calls != 0 {
		t.Errorf("%d produce calls for a canceled job", calls)
	}
	if lists, _ := e.dlq.counts(); lists != 0 {
		t.Errorf("%d list calls for a canceled job", lists)
	}
}

func TestReplayHeartbeatStoresProgressWhileWorkIsSlow(t *testing.T) {
	t.Parallel()
	const beat = 25 * time.Millisecond
	e := newEnv(t, func(o *replay.Options) { o.Heartbeat = beat }, deadLetter(t, "ep_a", 1, newClock().Now()))
	e.prod.before = func(ctx context.Context, _ int, _ []*sarama.ProducerMessage) error {
		select {
		case <-time.After(400 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}
	e.start(e.r)
	job := e.submit(domain.ReplayJob{})
	e.waitFinal(job.ID)

	var beats []time.Time
	for _, u := range e.jobs.updatesOf(job.ID) {
		if u.err == nil && u.job.State == domain.ReplayRunning {
			beats = append(beats, u.at)
		}
	}
	// One write when the job starts, then one per beat while Produce
	// holds it: the job stays alive to other processes.
	if len(beats) < 8 {
		t.Fatalf("%d progress writes in 400ms at one per %s, want about 16", len(beats), beat)
	}
	for i := 1; i < len(beats); i++ {
		if gap := beats[i].Sub(beats[i-1]); gap < beat*3/4 {
			t.Errorf("heartbeats %s apart, want at most one per %s", gap, beat)
		}
	}
}

func TestReplayJobWhoseProgressCannotBeStoredStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *replay.Options) { o.StaleAfter = 200 * time.Millisecond }, deadLetter(t, "ep_a", 1, newClock().Now()))
	var mu sync.Mutex
	writes := 0
	e.jobs.failUpdate = func(domain.ReplayJob) error {
		mu.Lock()
		defer mu.Unlock()
		if writes++; writes > 1 {
			return errors.New("connection refused")
		}
		return nil
	}
	stopped := make(chan struct{})
	e.prod.before = func(ctx context.Context, _ int, _ []*sarama.ProducerMessage) error {
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	}
	e.start(e.r)
	began := time.Now()
	job := e.submit(domain.ReplayJob{})
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("a job that could not store its progress for long ran on")
	}
	if took := time.Since(began); took < 100*time.Millisecond {
		t.Errorf("stopped after %s, before half of StaleAfter", took)
	}
	if got := e.jobs.get(job.ID); got.State != domain.ReplayRunning {
		t.Errorf("job state %s, want it left running for a takeover", got.State)
	}
}

func TestReplaySubmitIsIdempotent(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	e := newEnv(t, nil, deadLetter(t, "ep_a", 1, base), deadLetter(t, "ep_a", 2, base))
	e.start(e.r)
	first := e.submit(domain.ReplayJob{IdempotencyKey: "k1", Filter: domain.DeadLetterFilter{EndpointID: "ep_a"}})
	e.waitFinal(first.ID)
	again, created, err := e.r.Submit(context.Background(), domain.ReplayJob{IdempotencyKey: "k1", Force: true})
	if err != nil || created || again.ID != first.ID || again.State != domain.ReplayDone || again.Filter.EndpointID != "ep_a" {
		t.Fatalf("Submit again: %+v, created %v, err %v; want the first job", again, created, err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, produced, _ := e.prod.stats(); produced != 2 {
		t.Errorf("%d replays, want 2: the repeated submit must not run again", produced)
	}
}

func TestReplaySubmitBeforeRunStarts(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	e := newEnv(t, nil, deadLetter(t, "ep_a", 1, base), deadLetter(t, "ep_b", 1, base))
	a := e.submit(domain.ReplayJob{Filter: domain.DeadLetterFilter{EndpointID: "ep_a"}})
	b := e.submit(domain.ReplayJob{Filter: domain.DeadLetterFilter{EndpointID: "ep_b"}, Force: true})
	time.Sleep(30 * time.Millisecond)
	if e.jobs.get(a.ID).State != domain.ReplayPending {
		t.Fatal("a job ran without Run")
	}
	e.start(e.r)
	if got := e.waitFinal(a.ID); got.State != domain.ReplayDone || got.Replayed != 1 {
		t.Errorf("job a %+v", got)
	}
	if got := e.waitFinal(b.ID); got.State != domain.ReplayDone || got.Replayed != 1 {
		t.Errorf("forced job b %+v", got)
	}
}

func TestReplayConcurrentJobsAreBounded(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	var dls []domain.DeadLetter
	eps := []string{"ep_a", "ep_b", "ep_c", "ep_d", "ep_e"}
	for _, ep := range eps {
		dls = append(dls, deadLetter(t, ep, 1, base))
	}
	e := newEnv(t, func(o *replay.Options) { o.MaxJobs = 2 }, dls...)
	release := make(chan struct{})
	e.prod.before = func(ctx context.Context, _ int, _ []*sarama.ProducerMessage) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	e.start(e.r)
	var jobs []domain.ReplayJob
	for _, ep := range eps {
		jobs = append(jobs, e.submit(domain.ReplayJob{Filter: domain.DeadLetterFilter{EndpointID: ep}}))
	}
	waitFor(t, "two jobs producing", func() bool { calls, _, _ := e.prod.stats(); return calls == 2 })
	time.Sleep(100 * time.Millisecond)
	if calls, _, peak := e.prod.stats(); calls != 2 || peak != 2 {
		t.Errorf("%d jobs producing (peak %d) with MaxJobs 2", calls, peak)
	}
	close(release)
	for _, j := range jobs {
		if got := e.waitFinal(j.ID); got.State != domain.ReplayDone || got.Replayed != 1 {
			t.Errorf("job %+v", got)
		}
	}
	if _, _, peak := e.prod.stats(); peak > 2 {
		t.Errorf("peak %d jobs at once, want at most 2", peak)
	}
}

func TestReplayTransientErrorsAreRetriedPersistentOnesFailTheJob(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	dls := []domain.DeadLetter{deadLetter(t, "ep_a", 1, base), deadLetter(t, "ep_a", 2, base), deadLetter(t, "ep_a", 3, base)}

	e := newEnv(t, func(o *replay.Options) { o.Attempts = 3 }, dls...)
	e.prod.before = func(_ context.Context, call int, _ []*sarama.ProducerMessage) error {
		if call <= 2 {
			return errors.New("kafka: broker gone")
		}
		return nil
	}
	e.dlq.failList = func(call int) error {
		if call == 1 {
			return errors.New("cassandra: timeout")
		}
		return nil
	}
	e.start(e.r)
	if got := e.waitFinal(e.submit(domain.ReplayJob{}).ID); got.State != domain.ReplayDone || counts(got) != [4]int64{3, 3, 0, 0} {
		t.Errorf("job with transient errors ended %+v", got)
	}

	e = newEnv(t, func(o *replay.Options) { o.Attempts = 3 }, dls...)
	e.prod.before = func(context.Context, int, []*sarama.ProducerMessage) error { return errors.New("kafka: broker gone") }
	e.start(e.r)
	got := e.waitFinal(e.submit(domain.ReplayJob{}).ID)
	if got.State != domain.ReplayFailed || !strings.Contains(got.Error, "broker gone") || got.FinishedAt == nil || got.Replayed != 0 {
		t.Errorf("job with a persistent error ended %+v, want failed with the error", got)
	}
	if calls, _, _ := e.prod.stats(); calls != 3 {
		t.Errorf("%d produce calls, want Attempts (3)", calls)
	}

	e = newEnv(t, nil, dls...)
	e.dlq.failList = func(call int) error {
		if call > 1 {
			return storage.ErrInvalidCursor
		}
		return nil
	}
	e.start(e.r)
	if got := e.waitFinal(e.submit(domain.ReplayJob{}).ID); got.State != domain.ReplayFailed || !strings.Contains(got.Error, "cursor") {
		t.Errorf("job with an invalid cursor ended %+v", got)
	}
	if lists, _ := e.dlq.counts(); lists != 2 {
		t.Errorf("%d list calls: a permanent error must not be retried", lists)
	}
}

// A job whose runner died is taken over: from the first page, with fresh
// counters, and without replaying what the dead runner marked.
func TestReplayStaleJobIsTakenOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	now := e.clock.Now()
	created := now.Add(-time.Hour)
	var dls []domain.DeadLetter
	for i := range 4 {
		d := deadLetter(t, "ep_a", i, created)
		if i < 2 { // replayed by the dead runner
			d.ReplayedAt = ptr(created.Add(time.Minute))
		}
		dls = append(dls, d)
	}
	e.dlq = newFakeDLQ(dls...)
	e.r = replay.New(e.jobs, e.dlq, e.prod, e.opts)

	running := domain.ReplayJob{
		ID: ids.New(ids.ReplayJob), State: domain.ReplayRunning, Force: true, Total: 4, Replayed: 2,
		CreatedAt: created, UpdatedAt: now.Add(-2 * time.Minute),
	}
	pending := domain.ReplayJob{
		ID: ids.New(ids.ReplayJob), State: domain.ReplayPending, Filter: domain.DeadLetterFilter{EndpointID: "ep_none"},
		CreatedAt: now.Add(-3 * time.Minute), UpdatedAt: now.Add(-3 * time.Minute),
	}
	fresh := domain.ReplayJob{
		ID: ids.New(ids.ReplayJob), State: domain.ReplayRunning, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-30 * time.Second),
	}
	for _, j := range []domain.ReplayJob{running, pending, fresh} {
		e.jobs.put(j)
	}
	e.start(e.r)
	got := e.waitFinal(running.ID)
	if got.State != domain.ReplayDone || counts(got) != [4]int64{4, 4, 0, 0} {
		t.Errorf("taken-over job ended %s with %v, want done, 4 replayed (2 before the takeover)", got.State, counts(got))
	}
	if ids := deliveryIDs(e.produced()); !slices.Equal(ids, deliveryIDs([]replayRecord{{dls[2].DeliveryID, 0}, {dls[3].DeliveryID, 0}})) {
		t.Errorf("replayed %v, want only the two the dead runner had not", ids)
	}
	if got := e.waitFinal(pending.ID); got.State != domain.ReplayDone {
		t.Errorf("stale pending job %+v", got)
	}
	time.Sleep(50 * time.Millisecond)
	if got := e.jobs.get(fresh.ID); got.State != domain.ReplayRunning || !got.UpdatedAt.Equal(fresh.UpdatedAt) {
		t.Errorf("a job updated 30s ago (StaleAfter 1m) was taken over: %+v", got)
	}
}

func TestReplayTwoRunnersNeverRunTheSameJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	now := e.clock.Now()
	var dls []domain.DeadLetter
	var jobs []domain.ReplayJob
	for i, ep := range []string{"ep_a", "ep_b", "ep_c", "ep_d", "ep_e", "ep_f"} {
		for n := range 3 {
			dls = append(dls, deadLetter(t, ep, n, now.Add(-time.Hour)))
		}
		j := domain.ReplayJob{
			ID: ids.New(ids.ReplayJob), State: domain.ReplayPending, Filter: domain.DeadLetterFilter{EndpointID: ep},
			CreatedAt: now.Add(-10 * time.Minute), UpdatedAt: now.Add(-5*time.Minute + time.Duration(i)*time.Second),
		}
		jobs = append(jobs, j)
		e.jobs.put(j)
	}
	e.dlq = newFakeDLQ(dls...)
	opts := e.opts
	opts.MaxJobs = 2
	e.start(replay.New(e.jobs, e.dlq, e.prod, opts))
	e.start(replay.New(e.jobs, e.dlq, e.prod, opts))
	for _, j := range jobs {
		if got := e.waitFinal(j.ID); got.State != domain.ReplayDone || got.Replayed != 3 {
			t.Errorf("job %+v", got)
		}
	}
	produced := e.produced()
	if ids := deliveryIDs(produced); len(ids) != len(dls) || len(slices.Compact(ids)) != len(dls) {
		t.Errorf("%d replays of %d dead letters, %d distinct", len(produced), len(dls), len(slices.Compact(ids)))
	}
}

// When Run's context ends, its jobs stop promptly and stay non-final;
// another runner takes them over and sends only what was not sent.
func TestReplayShutdownLeavesJobsForTakeover(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	var dls []domain.DeadLetter
	for i := range 5 {
		dls = append(dls, deadLetter(t, "ep_a", i, base))
	}
	e := newEnv(t, nil, dls...)
	inSecondPage := make(chan struct{})
	e.prod.before = func(ctx context.Context, call int, _ []*sarama.ProducerMessage) error {
		if call == 2 {
			close(inSecondPage)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	stop := e.start(e.r)
	job := e.submit(domain.ReplayJob{Force: true})
	<-inSecondPage
	if took := stop(); took > 2*time.Second {
		t.Errorf("Run took %s to return after its context ended", took)
	}
	got := e.jobs.get(job.ID)
	if got.State != domain.ReplayRunning || got.FinishedAt != nil {
		t.Fatalf("after shutdown the job is %+v, want running (not final)", got)
	}
	first := e.produced()
	if len(first) != 2 {
		t.Fatalf("%d replays before shutdown, want the first page (2)", len(first))
	}

	// Another process, a while later.
	e.clock.Add(2 * time.Minute)
	prod2 := &fakeProducer{}
	e.start(replay.New(e.jobs, e.dlq, prod2, e.opts))
	got = e.waitFinal(job.ID)
	if got.State != domain.ReplayDone || counts(got) != [4]int64{5, 5, 0, 0} {
		t.Errorf("taken-over job ended %s with %v", got.State, counts(got))
	}
	all := append(deliveryIDs(first), deliveryIDs(func() []replayRecord {
		var out []replayRecord
		for _, r := range prod2.records(t) {
			out = append(out, replayRecord{r.DeliveryID, r.Generation})
		}
		return out
	}())...)
	slices.Sort(all)
	if len(all) != 5 || len(slices.Compact(all)) != 5 {
		t.Errorf("replays across both runners: %v; want each of the 5 once, even forced", all)
	}
}

func TestReplayDryRun(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	e := newEnv(t, nil, append(guardFixture(t, base), deadLetter(t, "ep_b", 1, base))...)
	for _, tc := range []struct {
		f                domain.DeadLetterFilter
		force            bool
		matched, skipped int64
	}{
		{domain.DeadLetterFilter{}, false, 6, 1},
		{domain.DeadLetterFilter{}, true, 6, 0},
		{domain.DeadLetterFilter{EndpointID: "ep_a"}, false, 4, 1},
		{domain.DeadLetterFilter{EndpointID: "ep_b"}, false, 1, 0},
		{domain.DeadLetterFilter{Reason: domain.ReasonMalformed}, false, 1, 0},
	} {
		matched, skipped, err := e.r.DryRun(context.Background(), tc.f, tc.force)
		if err != nil || matched != tc.matched || skipped != tc.skipped {
			t.Errorf("DryRun(%+v, force %v) = %d, %d, %v; want %d, %d", tc.f, tc.force, matched, skipped, err, tc.matched, tc.skipped)
		}
	}
	if calls, _, _ := e.prod.stats(); calls != 0 {
		t.Error("a dry run produced")
	}
	if _, marks := e.dlq.counts(); marks != 0 {
		t.Error("a dry run marked")
	}
	e.dlq.failList = func(int) error { return errors.New("cassandra: unavailable") }
	if _, _, err := e.r.DryRun(context.Background(), domain.DeadLetterFilter{}, false); err == nil {
		t.Error("DryRun hid a store error")
	}
}

func TestReplayOne(t *testing.T) {
	t.Parallel()
	base := newClock().Now()
	dl := deadLetter(t, "ep_a", 4, base)
	dl.ReplayedAt = ptr(base.Add(-time.Minute)) // the guard is for bulk jobs only
	e := newEnv(t, nil, dl)
	gen, err := e.r.ReplayOne(context.Background(), dl)
	if err != nil || gen != dl.Generation+1 {
		t.Fatalf("ReplayOne = %d, %v; want generation %d", gen, err, dl.Generation+1)
	}
	recs := e.prod.records(t)
	if len(recs) != 1 || recs[0].DeliveryID != dl.DeliveryID || recs[0].Generation != gen || recs[0].Attempt != 1 {
		t.Errorf("produced %+v", recs)
	}
	if got := e.dlq.get(dl.DeliveryID); got.ReplayedAt == nil || !got.ReplayedAt.Equal(e.clock.Now()) {
		t.Errorf("replayed_at %v, want now", got.ReplayedAt)
	}

	tampered := deadLetter(t, "ep_a", 5, base)
	tampered.Payload = append(tampered.Payload, ' ')
	for name, d := range map[string]domain.DeadLetter{"malformed": malformedLetter(1, base), "tampered": tampered} {
		if _, err := e.r.ReplayOne(context.Background(), d); !errors.Is(err, dispatch.ErrNotReplayable) {
			t.Errorf("%s: ReplayOne error %v, want ErrNotReplayable", name, err)
		}
	}
	if calls, _, _ := e.prod.stats(); calls != 1 {
		t.Errorf("%d produce calls; non-replayable dead letters must produce nothing", calls)
	}

	// Not durable in Kafka: not marked.
	e.prod.before = func(context.Context, int, []*sarama.ProducerMessage) error {
		return errors.New("kafka: not enough replicas")
	}
	other := deadLetter(t, "ep_a", 6, base)
	e.dlq = newFakeDLQ(other)
	e.r = replay.New(e.jobs, e.dlq, e.prod, e.opts)
	if _, err := e.r.ReplayOne(context.Background(), other); err == nil || errors.Is(err, dispatch.ErrNotReplayable) {
		t.Errorf("ReplayOne with Kafka failing: %v", err)
	}
	if e.dlq.get(other.DeliveryID).ReplayedAt != nil {
		t.Error("marked replayed although the produce failed")
	}
}
