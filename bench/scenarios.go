package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/hookd/hookd/bench/internal/stats"
	wire "github.com/hookd/hookd/internal/api"
)

// settings are the scenario parameters (flags).
type settings struct {
	Endpoints int `json:"endpoints"`
	Size      int `json:"payload_bytes"`

	S1Start    float64       `json:"s1_start_deliveries_per_s"`
	S1Factor   float64       `json:"s1_factor"`
	S1Step     time.Duration `json:"s1_step"`
	S1MaxSteps int           `json:"s1_max_steps"`
	S1Fanouts  []int         `json:"s1_fanouts"`

	S2Duration time.Duration `json:"s2_duration"`
	S2Max      float64       `json:"s2_max_deliveries_per_s"` // 100 %; 0: from S1
	S2Fanout   int           `json:"s2_fanout"`

	S3Duration time.Duration `json:"s3_duration"`
	S3Rate     float64       `json:"s3_deliveries_per_s"` // 0: half of S1

	S4Events  uint64        `json:"s4_events"`
	S4Timeout time.Duration `json:"s4_timeout"`

	S5Retries uint64        `json:"s5_retries"`
	S5Rate    float64       `json:"s5_events_per_s"`
	S5Hold    time.Duration `json:"s5_hold"`
}

// stepResult is one measured window of a scenario.
type stepResult struct {
	Name   string  `json:"name"`
	Target float64 `json:"target_deliveries_per_s,omitempty"`
	Fanout int     `json:"fanout,omitempty"`
	Window window  `json:"window"`
	Pass   *bool   `json:"keeps_up,omitempty"`
	// DispatchPass judges deliveries only, not the logwriter (S1).
	DispatchPass *bool   `json:"dispatch_keeps_up,omitempty"`
	Why          string  `json:"why,omitempty"`
	Drain        float64 `json:"drain_s,omitempty"`
}

// result is one scenario's JSON file.
type result struct {
	Scenario  string                 `json:"scenario"`
	Title     string                 `json:"title"`
	Started   time.Time              `json:"started"`
	Finished  time.Time              `json:"finished"`
	Machine   machineInfo            `json:"machine"`
	Settings  settings               `json:"settings"`
	Steps     []stepResult           `json:"steps"`
	Summary   map[string]any         `json:"summary"`
	Ledger    *stats.Ledger          `json:"ledger,omitempty"`
	Processes map[string]procSummary `json:"processes"`
	HookdRSS  []rssPoint             `json:"hookd_rss_series,omitempty"`
	Series    []drainPoint           `json:"series,omitempty"`
	Notes     []string               `json:"notes,omitempty"`
}

// runner runs scenarios and remembers earlier results for later ones.
type runner struct {
	env  *env
	set  settings
	prev map[string]*result // this invocation's results, by scenario
	dir  string             // results directory
}

func boolp(b bool) *bool { return &b }

// ledger closes the books of a stack: receiver counts, dead letters from
// the API, pending in Kafka from the lags.
func ledgerOf(ctx context.Context, s *stack, fanout int) (*stats.Ledger, error) {
	snap, err := s.recv.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	dead, err := s.deadLetters(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	pc := s.prod.counts()
	l := &stats.Ledger{
		Published: pc.Published, Expected: pc.Expected, Delivered: snap.Delivered(), Dead: dead,
		Duplicates: snap.Sum(func(c *ClassSnapshot) uint64 { return c.Duplicates }),
	}
	if lg, err := s.lag.read(s); err == nil {
		l.PendingInKafka = lg.Retries + lg.Events*int64(fanout)
	}
	l.Close()
	return l, nil
}

// s1 ramps the offered rate for each fan-out and finds the highest rate
// hookd keeps up with.
func (r *runner) s1(ctx context.Context) (*result, error) {
	set := r.set
	res := &result{Scenario: "S1", Title: "maximum sustained throughput", Summary: map[string]any{}}
	s, err := newStack(ctx, r.env, "S1", stackSpec{endpoints: set.Endpoints, fanouts: set.S1Fanouts, receiverSpec: "ok"})
	if err != nil {
		return nil, err
	}
	defer s.teardown()
	m := newMeter(s)
	defer m.close()
	if err := s.warmUp(ctx); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	start, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	// hookd's cost with nothing to do, for reading the per-delivery
	// figures at low rates.
	time.Sleep(5 * time.Second)
	idle, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	iw := m.window(start, idle)
	res.Steps = append(res.Steps, stepResult{Name: "idle", Window: iw})
	res.Summary["hookd_idle_cores"] = iw.CPUCores[procHookd]
	for _, f := range set.S1Fanouts {
		rate, best, fail := set.S1Start, 0.0, 0.0
		var bestStep *stepResult
		for step := 0; step < set.S1MaxSteps; step++ {
			st, err := r.runStep(ctx, s, m, fmt.Sprintf("f%d @%.0f/s", f, rate), rate, f, set.S1Step)
			if err != nil {
				return nil, err
			}
			res.Steps = append(res.Steps, st)
			r.env.log("S1 fan-out %d: %.0f deliveries/s offered, %.0f/s delivered, p99 %.1f ms, hookd %.2f cores (%.0f µs/delivery): %s",
				f, st.Window.OfferedDeliveriesPerS, st.Window.DeliveredPerS, st.Window.Latency.P99, st.Window.CPUCores[procHookd], st.Window.HookdMicrosPerD, passWord(st))
			if *st.Pass {
				best = rate
				c := st
				bestStep = &c
			} else {
				fail = rate
			}
			switch {
			case fail == 0:
				rate *= set.S1Factor
			case best == 0:
				rate /= set.S1Factor * set.S1Factor
			default:
				if (fail-best)/best < 0.08 {
					step = set.S1MaxSteps
				}
				rate = (best + fail) / 2
			}
			rate = math.Round(rate/10) * 10
		}
		key := fmt.Sprintf("fanout_%d", f)
		sum := map[string]any{"max_sustained_deliveries_per_s": best, "first_failing_deliveries_per_s": fail}
		// Deliveries alone (the logwriter may lag): the best step seen,
		// not searched for.
		dispatchBest := 0.0
		for _, st := range res.Steps {
			if st.Fanout == f && st.DispatchPass != nil && *st.DispatchPass {
				dispatchBest = max(dispatchBest, st.Window.DeliveredPerS)
			}
		}
		sum["max_dispatch_only_delivered_per_s_seen"] = dispatchBest
		if bestStep != nil {
			w := bestStep.Window
			sum["delivered_per_s"] = w.DeliveredPerS
			sum["hookd_cpu_us_per_delivery"] = w.HookdMicrosPerD
			sum["hookd_cores"] = w.CPUCores[procHookd]
			sum["hookd_peak_rss_mb"] = w.HookdPeakRSSMB
			sum["p99_ms"] = w.Latency.P99
			sum["machine_busy_cores"] = w.MachineCores
			sum["other_cores"] = w.OtherCores
		}
		if fail == 0 {
			sum["note"] = "never failed: raise -s1-max-steps or -s1-start"
		}
		res.Summary[key] = sum
	}
	end, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	res.Processes = m.summary(start, end)
	if res.Ledger, err = ledgerOf(ctx, s, 1); err != nil {
		return nil, err
	}
	res.Ledger.PendingInKafka = end.lag.Retries // events of mixed fan-outs: only retries are meaningful
	return res, nil
}

func passWord(st stepResult) string {
	if st.Pass != nil && *st.Pass {
		return "keeps up"
	}
	return "falls behind (" + st.Why + ")"
}

// runStep offers rate deliveries/s of fan-out f for d, measures the last
// two thirds, judges whether hookd kept up, then lets it drain.
func (r *runner) runStep(ctx context.Context, s *stack, m *meter, name string, rate float64, f int, d time.Duration) (stepResult, error) {
	st := stepResult{Name: name, Target: rate, Fanout: f}
	warm := d / 3
	done := make(chan error, 1)
	go func() {
		_, err := s.prod.run(ctx, rate/float64(f), d, 0, f)
		done <- err
	}()
	time.Sleep(warm)
	a, err := m.mark(ctx)
	if err != nil {
		return st, err
	}
	if err := <-done; err != nil {
		return st, err
	}
	b, err := m.mark(ctx)
	if err != nil {
		return st, err
	}
	w := m.window(a, b)
	st.Window = w
	inWindow := w.OfferedDeliveriesPerS * w.Seconds
	var why []string
	if w.OfferedDeliveriesPerS < 0.97*rate {
		why = append(why, fmt.Sprintf("producer reached only %.0f/s", w.OfferedDeliveriesPerS))
	}
	if w.DeliveredPerS < 0.95*w.OfferedDeliveriesPerS {
		why = append(why, fmt.Sprintf("delivered %.0f/s of %.0f/s", w.DeliveredPerS, w.OfferedDeliveriesPerS))
	}
	// A backlog falls behind when it grew by more than 10 % of the
	// window's deliveries and is more than a second of them, or is more
	// than 3 s of them whatever it did (commits every 500 ms and batching
	// make small backlogs come and go).
	behind := func(start, end int64) bool {
		grew := float64(end-start) > 0.1*inWindow && float64(end) > rate
		return grew || float64(end) > 3*rate
	}
	if behind(w.BacklogStart, w.BacklogEnd) {
		why = append(why, fmt.Sprintf("delivery backlog %d→%d", w.BacklogStart, w.BacklogEnd))
	}
	st.DispatchPass = boolp(len(why) == 0)
	if behind(w.LagStart.LogWriter, w.LagEnd.LogWriter) {
		why = append(why, fmt.Sprintf("logwriter lag %d→%d", w.LagStart.LogWriter, w.LagEnd.LogWriter))
	}
	st.Pass = boolp(len(why) == 0)
	st.Why = strings.Join(why, "; ")
	if err := s.prod.settle(ctx, time.Minute); err != nil {
		return st, err
	}
	t0 := time.Now()
	if err := r.drain(ctx, s, 90*time.Second); err != nil {
		r.env.log("%s: %v", name, err)
	}
	st.Drain = round1(time.Since(t0).Seconds())
	return st, nil
}

// drain waits until every expected delivery arrived and the logwriter
// caught up (all endpoints healthy).
func (r *runner) drain(ctx context.Context, s *stack, limit time.Duration) error {
	if err := s.waitDelivered(ctx, limit); err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		lg, err := s.lag.read(s)
		if err == nil && lg.LogWriter == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("logwriter lag %d after %v", lg.LogWriter, limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// s1Max returns the maximum sustained deliveries/s of fan-out f: from the
// flag, this run's S1, or the newest S1 result file.
func (r *runner) s1Max(f int, flagValue float64) (float64, string, error) {
	if flagValue > 0 {
		return flagValue, "flag", nil
	}
	res := r.prev["S1"]
	src := "this run's S1"
	if res == nil {
		var file string
		res, file = latestResult(r.dir, "S1")
		src = file
	}
	if res != nil {
		if sum, ok := res.Summary[fmt.Sprintf("fanout_%d", f)].(map[string]any); ok {
			if v, ok := sum["max_sustained_deliveries_per_s"].(float64); ok && v > 0 {
				return v, src, nil
			}
		}
	}
	return 0, "", fmt.Errorf("no S1 figure for fan-out %d: run S1 first or pass -s2-max", f)
}

// s2 measures publish→receive latency at 25, 50 and 75 % of S1's maximum.
func (r *runner) s2(ctx context.Context) (*result, error) {
	set := r.set
	top, src, err := r.s1Max(set.S2Fanout, set.S2Max)
	if err != nil {
		return nil, err
	}
	res := &result{Scenario: "S2", Title: "publish→receive latency at 25/50/75 % of S1", Summary: map[string]any{"s1_max_deliveries_per_s": top, "s1_source": src}}
	s, err := newStack(ctx, r.env, "S2", stackSpec{endpoints: set.Endpoints, fanouts: []int{set.S2Fanout}, receiverSpec: "ok"})
	if err != nil {
		return nil, err
	}
	defer s.teardown()
	m := newMeter(s)
	defer m.close()
	if err := s.warmUp(ctx); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	start, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	for _, pct := range []int{25, 50, 75} {
		rate := math.Round(top * float64(pct) / 100)
		st, err := r.runLevel(ctx, s, m, fmt.Sprintf("%d%% (%.0f/s)", pct, rate), rate, set.S2Fanout, set.S2Duration)
		if err != nil {
			return nil, err
		}
		res.Steps = append(res.Steps, st)
		w := st.Window
		r.env.log("S2 %d%%: %.0f/s delivered, p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms", pct, w.DeliveredPerS, w.Latency.P50, w.Latency.P99, w.Latency.P999)
		res.Summary[fmt.Sprintf("at_%d_pct", pct)] = map[string]any{
			"deliveries_per_s": rate, "delivered_per_s": w.DeliveredPerS, "p50_ms": w.Latency.P50, "p99_ms": w.Latency.P99, "p99_9_ms": w.Latency.P999,
			"hookd_cpu_us_per_delivery": w.HookdMicrosPerD, "hookd_peak_rss_mb": w.HookdPeakRSSMB,
		}
	}
	end, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	res.Processes = m.summary(start, end)
	if res.Ledger, err = ledgerOf(ctx, s, set.S2Fanout); err != nil {
		return nil, err
	}
	return res, nil
}

// runLevel offers rate for d, measures after a 5 s warm-up, then drains.
func (r *runner) runLevel(ctx context.Context, s *stack, m *meter, name string, rate float64, f int, d time.Duration) (stepResult, error) {
	st := stepResult{Name: name, Target: rate, Fanout: f}
	done := make(chan error, 1)
	go func() {
		_, err := s.prod.run(ctx, rate/float64(f), d, 0, f)
		done <- err
	}()
	time.Sleep(min(5*time.Second, d/4))
	a, err := m.mark(ctx)
	if err != nil {
		return st, err
	}
	if err := <-done; err != nil {
		return st, err
	}
	if err := s.prod.settle(ctx, time.Minute); err != nil {
		return st, err
	}
	// The window ends when the last event sent has had its chance to
	// arrive, so late deliveries count in the percentiles.
	t0 := time.Now()
	if err := r.drain(ctx, s, 90*time.Second); err != nil {
		r.env.log("%s: %v", name, err)
	}
	st.Drain = round1(time.Since(t0).Seconds())
	b, err := m.mark(ctx)
	if err != nil {
		return st, err
	}
	st.Window = m.window(a, b)
	// Rates over the sending time only.
	sending := b.t.Sub(a.t).Seconds() - st.Drain
	if sending > 0 {
		st.Window.OfferedEventsPerS = perS(b.prod.Published-a.prod.Published, sending)
		st.Window.OfferedDeliveriesPerS = perS(b.prod.Expected-a.prod.Expected, sending)
		st.Window.DeliveredPerS = perS(b.snap.Delivered()-a.snap.Delivered(), sending)
		st.Window.HealthyDeliveredPerS = perS(b.snap.HealthyDelivered()-a.snap.HealthyDelivered(), sending)
	}
	return st, nil
}

// s3 runs S2's 50 % load with 10 % of endpoints answering 500 and 10 %
// hanging, and compares the healthy endpoints with S2.
func (r *runner) s3(ctx context.Context) (*result, error) {
	set := r.set
	rate, src := set.S3Rate, "flag"
	if rate <= 0 {
		top, s1src, err := r.s1Max(1, 0)
		if err != nil {
			return nil, err
		}
		rate, src = math.Round(top/2), "half of "+s1src
	}
	n := set.Endpoints
	bad := n / 10
	spec := fmt.Sprintf("%d:ok,%d:500,%d:hang", n-2*bad, bad, bad)
	res := &result{Scenario: "S3", Title: "isolation: 10 % of endpoints answer 500, 10 % hang", Summary: map[string]any{"offered_deliveries_per_s": rate, "rate_source": src, "receiver_spec": spec}}
	// A short schedule, so failing deliveries reach the dead-letter queue
	// within the scenario when their circuit lets them be tried.
	policy := &wire.RetryPolicy{Schedule: []wire.Duration{wire.Duration(5 * time.Second), wire.Duration(5 * time.Second)}}
	s, err := newStack(ctx, r.env, "S3", stackSpec{endpoints: n, fanouts: []int{1}, receiverSpec: spec, retryFor: func(string) *wire.RetryPolicy { return policy }})
	if err != nil {
		return nil, err
	}
	defer s.teardown()
	m := newMeter(s)
	defer m.close()
	time.Sleep(2 * time.Second) // the subscription index hears of the endpoints
	start, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.prod.run(ctx, rate, set.S3Duration, 0, 1)
		done <- err
	}()
	time.Sleep(min(10*time.Second, set.S3Duration/4))
	a, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	if err := <-done; err != nil {
		return nil, err
	}
	if err := s.prod.settle(ctx, time.Minute); err != nil {
		return nil, err
	}
	sendEnd := time.Now()
	// Wait for the healthy deliveries (the others may take much longer).
	healthyWant := func() uint64 {
		// Endpoint i gets the events whose seq ≡ i (mod n); the healthy
		// ones are the first n−2·bad.
		sent := s.prod.counts().Sent
		var k uint64
		for i := range uint64(n - 2*bad) {
			if sent > i {
				k += (sent-1-i)/uint64(n) + 1
			}
		}
		return k
	}()
	deadline := time.Now().Add(90 * time.Second)
	var snap *Snapshot
	for {
		if snap, err = s.recv.snapshot(ctx); err != nil {
			return nil, err
		}
		if snap.HealthyDelivered() >= healthyWant || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	b, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	w := m.window(a, b)
	sending := sendEnd.Sub(a.t).Seconds()
	w.OfferedEventsPerS = perS(b.prod.Published-a.prod.Published, sending)
	w.OfferedDeliveriesPerS = perS(b.prod.Expected-a.prod.Expected, sending)
	w.DeliveredPerS = perS(b.snap.Delivered()-a.snap.Delivered(), sending)
	w.HealthyDeliveredPerS = perS(b.snap.HealthyDelivered()-a.snap.HealthyDelivered(), sending)
	st := stepResult{Name: fmt.Sprintf("faulty @%.0f/s", rate), Target: rate, Fanout: 1, Window: w, Drain: round1(time.Since(sendEnd).Seconds())}
	res.Steps = append(res.Steps, st)
	healthyOffered := w.OfferedDeliveriesPerS * float64(n-2*bad) / float64(n)
	sum := res.Summary
	sum["healthy_p50_ms"], sum["healthy_p99_ms"], sum["healthy_p99_9_ms"] = w.Latency.P50, w.Latency.P99, w.Latency.P999
	sum["healthy_offered_per_s"] = round1(healthyOffered)
	sum["healthy_delivered_per_s"] = w.HealthyDeliveredPerS
	sum["healthy_all_arrived"] = snap.HealthyDelivered() >= healthyWant
	sum["hookd_peak_rss_mb"] = w.HookdPeakRSSMB
	if base, bsrc := r.baselineS2(); base != nil {
		sum["s2_source"] = bsrc
		if p99, ok := base["p99_ms"].(float64); ok && p99 > 0 {
			sum["s2_p99_ms"] = p99
			sum["p99_vs_s2"] = round3(w.Latency.P99 / p99)
		}
		if tp, ok := base["delivered_per_s"].(float64); ok && tp > 0 {
			sum["s2_delivered_per_s"] = tp
		}
	}
	r.env.log("S3: healthy %.0f/s of %.0f/s offered, p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms", w.HealthyDeliveredPerS, healthyOffered, w.Latency.P50, w.Latency.P99, w.Latency.P999)
	// Failing deliveries: give the retries a little longer, then count.
	time.Sleep(15 * time.Second)
	end, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	res.Processes = m.summary(start, end)
	if res.Ledger, err = ledgerOf(ctx, s, 1); err != nil {
		return nil, err
	}
	res.Notes = append(res.Notes, "pending = deliveries to the failing and hanging endpoints still in retry tiers (circuit open or waiting for their next attempt); pending_in_kafka is the retry-tier backlog hookd's consumer group has not committed")
	return res, nil
}

// baselineS2 returns S2's 50 % figures from this run or the newest file.
func (r *runner) baselineS2() (map[string]any, string) {
	res, src := r.prev["S2"], "this run's S2"
	if res == nil {
		res, src = latestResult(r.dir, "S2")
	}
	if res == nil {
		return nil, ""
	}
	m, _ := res.Summary["at_50_pct"].(map[string]any)
	return m, src
}

// drainPoint is one sample of a drain (S4) or hold (S5).
type drainPoint struct {
	T         float64 `json:"t_s"`
	Delivered uint64  `json:"delivered"`
	Requests  uint64  `json:"receiver_requests"`
	EventsLag int64   `json:"events_lag"`
	Retries   int64   `json:"retries_pending"`
	LogLag    int64   `json:"logwriter_lag"`
	RSSMB     float64 `json:"hookd_rss_mb"`
}

func (m *meter) drainPoint(ctx context.Context, t0 time.Time) (drainPoint, error) {
	snap, err := m.s.recv.snapshot(ctx)
	if err != nil {
		return drainPoint{}, err
	}
	p := drainPoint{T: round1(time.Since(t0).Seconds()), Delivered: snap.Delivered(), Requests: snap.Sum(func(c *ClassSnapshot) uint64 { return c.Requests })}
	if lg, err := m.s.lag.read(m.s); err == nil {
		p.EventsLag, p.Retries, p.LogLag = lg.Events, lg.Retries, lg.LogWriter
	}
	if pids := m.s.hookdPid(); len(pids) > 0 {
		p.RSSMB = round1(float64(readProc(pids[0]).RSS) / (1 << 20))
	}
	return p, nil
}

// s4 produces a backlog while hookd is stopped, then measures the drain.
func (r *runner) s4(ctx context.Context) (*result, error) {
	set := r.set
	res := &result{Scenario: "S4", Title: fmt.Sprintf("backlog: %d events produced while hookd is stopped, then drained", set.S4Events), Summary: map[string]any{}}
	s, err := newStack(ctx, r.env, "S4", stackSpec{endpoints: set.Endpoints, fanouts: []int{1}, receiverSpec: "ok"})
	if err != nil {
		return nil, err
	}
	defer s.teardown()
	m := newMeter(s)
	defer m.close()
	if err := s.warmUp(ctx); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := s.stopHookd(); err != nil {
		r.env.log("S4: hookd stop: %v", err)
	}
	before := s.prod.counts()
	t0 := time.Now()
	if _, err := s.prod.run(ctx, 0, 0, set.S4Events, 1); err != nil {
		return nil, err
	}
	if err := s.prod.settle(ctx, 5*time.Minute); err != nil {
		return nil, err
	}
	produceS := time.Since(t0).Seconds()
	after := s.prod.counts()
	res.Summary["produced_events"] = after.Published - before.Published
	res.Summary["produce_events_per_s"] = perS(after.Published-before.Published, produceS)
	r.env.log("S4: %d events produced in %.1f s; starting hookd", after.Published-before.Published, produceS)
	if err := s.startHookd(ctx); err != nil {
		return nil, err
	}
	t1 := time.Now()
	startAt := m.mon.elapsed()
	a, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	want := after.Expected
	deadline := t1.Add(set.S4Timeout)
	var at10, at90 *drainPoint
	base := a.snap.Delivered()
	total := want - base
	for {
		p, err := m.drainPoint(ctx, t1)
		if err != nil {
			return nil, err
		}
		res.Series = append(res.Series, p)
		got := p.Delivered - base
		if at10 == nil && got >= total/10 {
			c := p
			at10 = &c
		}
		if at90 == nil && got >= total*9/10 {
			c := p
			at90 = &c
		}
		if p.Delivered >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	drainS := time.Since(t1).Seconds()
	b, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	w := m.window(a, b)
	st := stepResult{Name: "drain", Fanout: 1, Window: w}
	res.Steps = append(res.Steps, st)
	delivered := b.snap.Delivered() - base
	sum := res.Summary
	sum["drained"] = b.snap.Delivered() >= want
	sum["drain_s"] = round1(drainS)
	sum["drain_deliveries_per_s"] = perS(delivered, drainS)
	if at10 != nil && at90 != nil && at90.T > at10.T {
		sum["steady_deliveries_per_s"] = perS(at90.Delivered-at10.Delivered, at90.T-at10.T)
		sum["hookd_rss_mb_at_10pct"], sum["hookd_rss_mb_at_90pct"] = at10.RSSMB, at90.RSSMB
	}
	sum["hookd_peak_rss_mb"] = w.HookdPeakRSSMB
	sum["hookd_cpu_us_per_delivery"] = w.HookdMicrosPerD
	sum["publish_to_receive_p50_ms"], sum["publish_to_receive_max_ms"] = w.Latency.P50, w.Latency.Max
	res.HookdRSS = m.mon.rssSeries(procHookd, startAt, 0)
	r.env.log("S4: drained %d deliveries in %.1f s (%.0f/s), hookd peak RSS %.0f MB", delivered, drainS, perS(delivered, drainS), w.HookdPeakRSSMB)
	res.Processes = m.summary(a, b)
	if res.Ledger, err = ledgerOf(ctx, s, 1); err != nil {
		return nil, err
	}
	return res, nil
}

// s5 parks retries: every endpoint answers 500 and retries after an hour,
// then hookd is watched while they wait.
func (r *runner) s5(ctx context.Context) (*result, error) {
	set := r.set
	res := &result{Scenario: "S5", Title: fmt.Sprintf("%d pending retries", set.S5Retries), Summary: map[string]any{}}
	policy := &wire.RetryPolicy{Schedule: []wire.Duration{wire.Duration(time.Hour), wire.Duration(2 * time.Hour)}}
	s, err := newStack(ctx, r.env, "S5", stackSpec{endpoints: set.Endpoints, fanouts: []int{1}, receiverSpec: "500", retryFor: func(string) *wire.RetryPolicy { return policy }})
	if err != nil {
		return nil, err
	}
	defer s.teardown()
	m := newMeter(s)
	defer m.close()
	time.Sleep(2 * time.Second)
	a, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	startAt := m.mon.elapsed()
	if _, err := s.prod.run(ctx, set.S5Rate, 0, set.S5Retries, 1); err != nil {
		return nil, err
	}
	if err := s.prod.settle(ctx, 5*time.Minute); err != nil {
		return nil, err
	}
	res.Summary["produce_s"] = round1(time.Since(t0).Seconds())
	// Wait until hookd has consumed every event (each is then a retry or
	// deferred into a retry tier).
	deadline := time.Now().Add(5 * time.Minute)
	for {
		p, err := m.drainPoint(ctx, t0)
		if err != nil {
			return nil, err
		}
		res.Series = append(res.Series, p)
		if p.EventsLag == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	res.Summary["consumed_s"] = round1(time.Since(t0).Seconds())
	h0, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	holdAt := m.mon.elapsed()
	r.env.log("S5: all events consumed after %.1f s; holding %v", time.Since(t0).Seconds(), set.S5Hold)
	holdEnd := time.Now().Add(set.S5Hold)
	for time.Now().Before(holdEnd) {
		time.Sleep(time.Second)
		p, err := m.drainPoint(ctx, t0)
		if err != nil {
			return nil, err
		}
		res.Series = append(res.Series, p)
	}
	h1, err := m.mark(ctx)
	if err != nil {
		return nil, err
	}
	fill := m.window(a, h0)
	hold := m.window(h0, h1)
	res.Steps = append(res.Steps, stepResult{Name: "fill", Fanout: 1, Window: fill}, stepResult{Name: "hold", Fanout: 1, Window: hold})
	holdRSS := m.mon.rssSeries(procHookd, holdAt, 0)
	sum := res.Summary
	sum["pending_retries_at_hold_start"] = h0.lag.Retries
	sum["pending_retries_at_end"] = h1.lag.Retries
	sum["attempts_made"] = h1.snap.Sum(func(c *ClassSnapshot) uint64 { return c.Requests })
	sum["hookd_peak_rss_mb_fill"] = fill.HookdPeakRSSMB
	sum["hookd_peak_rss_mb_hold"] = hold.HookdPeakRSSMB
	if len(holdRSS) > 0 {
		sum["hookd_rss_mb_hold_start"], sum["hookd_rss_mb_hold_end"] = holdRSS[0].RSS, holdRSS[len(holdRSS)-1].RSS
	}
	sum["hookd_cores_hold"] = hold.CPUCores[procHookd]
	res.HookdRSS = m.mon.rssSeries(procHookd, startAt, 0)
	r.env.log("S5: %d retries pending; hookd RSS %.0f MB peak while filling, %.0f MB peak while holding, %.2f cores while holding",
		h1.lag.Retries, fill.HookdPeakRSSMB, hold.HookdPeakRSSMB, hold.CPUCores[procHookd])
	res.Processes = m.summary(a, h1)
	if res.Ledger, err = ledgerOf(ctx, s, 1); err != nil {
		return nil, err
	}
	return res, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
