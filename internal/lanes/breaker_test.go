package lanes

import (
	"testing"
	"time"
)

func TestBreakerFailureRateTrip(t *testing.T) {
	l, _, log := newTestLanes(t, Config{})
	// Below MinRequests, even all failures do not trip.
	for range DefaultMinRequests - 1 {
		deliver(t, l, "ep", fail)
	}
	checkState(t, l, "ep", StateClosed)
	if _, _, rate := l.State("ep"); rate != 1 {
		t.Fatalf("failure rate = %v, want 1", rate)
	}
	deliver(t, l, "ep", fail) // 20 of 20
	checkState(t, l, "ep", StateOpen)
	sc := log.last(t)
	if sc.From != StateClosed || sc.To != StateOpen || sc.Cause != CauseFailureRate ||
		sc.EndpointID != "ep" || sc.CoolDown != DefaultCoolDown || sc.FailureRate != 1 {
		t.Fatalf("state change = %+v", sc)
	}
}

func TestBreakerFailureRateThreshold(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{})
	// Exactly 50% does not exceed the threshold.
	for range 10 {
		deliver(t, l, "ep", ok)
		deliver(t, l, "ep", fail)
	}
	checkState(t, l, "ep", StateClosed)
	if _, _, rate := l.State("ep"); rate != 0.5 {
		t.Fatalf("failure rate = %v, want 0.5", rate)
	}
	deliver(t, l, "ep", fail) // 11 of 21
	checkState(t, l, "ep", StateOpen)
}

func TestBreakerWindowRolls(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	for range 19 {
		deliver(t, l, "ep", fail)
	}
	// Older than the window: forgotten.
	clk.Advance(DefaultWindow)
	if _, _, rate := l.State("ep"); rate != 0 {
		t.Fatalf("failure rate after the window = %v, want 0", rate)
	}
	// Spread over most of the window: all counted.
	for range DefaultMinRequests - 1 {
		deliver(t, l, "ep", fail)
		clk.Advance(DefaultWindow / 25)
	}
	checkState(t, l, "ep", StateClosed) // 19 in the window
	deliver(t, l, "ep", fail)
	checkState(t, l, "ep", StateOpen)
}

func TestBreakerConsecutiveTimeouts(t *testing.T) {
	l, _, log := newTestLanes(t, Config{})
	for range DefaultConsecutiveTimeouts - 1 {
		deliver(t, l, "ep", timeout)
	}
	deliver(t, l, "ep", ok) // resets the streak
	for range DefaultConsecutiveTimeouts - 1 {
		deliver(t, l, "ep", timeout)
	}
	checkState(t, l, "ep", StateClosed)
	// Other failures neither count nor break the streak.
	deliver(t, l, "ep", fail)
	checkState(t, l, "ep", StateClosed)
	deliver(t, l, "ep", timeout)
	checkState(t, l, "ep", StateOpen)
	if sc := log.last(t); sc.Cause != CauseTimeouts {
		t.Fatalf("cause = %q, want %q", sc.Cause, CauseTimeouts)
	}
}

// A hanging endpoint trips on its first wave of timeouts, without waiting
// for MinRequests outcomes.
func TestBreakerHangingEndpointTripsFast(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{DefaultConcurrency: 16})
	var held []Permit
	for range 16 {
		held = append(held, mustAdmit(t, l, "ep", Limits{}))
	}
	for i, p := range held {
		p.Release(timeout)
		want := StateClosed
		if i+1 >= DefaultConsecutiveTimeouts {
			want = StateOpen
		}
		checkState(t, l, "ep", want)
	}
	mustRefuse(t, l, "ep", Limits{}, ReasonCircuitOpen)
}

func trip(t *testing.T, l *Lanes, id string) {
	t.Helper()
	for range DefaultConsecutiveTimeouts {
		deliver(t, l, id, timeout)
	}
	checkState(t, l, id, StateOpen)
}

func TestBreakerCoolDownAndProbe(t *testing.T) {
	l, clk, log := newTestLanes(t, Config{})
	trip(t, l, "ep")
	_, openedAt, _ := l.State("ep")

	d := mustRefuse(t, l, "ep", Limits{}, ReasonCircuitOpen)
	if d.RetryAfter != DefaultCoolDown {
		t.Fatalf("RetryAfter = %v, want %v", d.RetryAfter, DefaultCoolDown)
	}
	clk.Advance(DefaultCoolDown - time.Millisecond)
	d = mustRefuse(t, l, "ep", Limits{}, ReasonCircuitOpen)
	if d.RetryAfter != time.Millisecond {
		t.Fatalf("RetryAfter = %v, want 1ms", d.RetryAfter)
	}
	// Lazy: still open until an Acquire comes.
	clk.Advance(time.Millisecond)
	checkState(t, l, "ep", StateOpen)

	probe := mustAdmit(t, l, "ep", Limits{})
	if !probe.Probe() {
		t.Fatal("first delivery after the cool-down is not a probe")
	}
	state, since, _ := l.State("ep")
	if state != StateHalfOpen || !since.Equal(openedAt.Add(DefaultCoolDown)) {
		t.Fatalf("State = %v since %v, want half_open since %v", state, since, openedAt.Add(DefaultCoolDown))
	}
	if sc := log.last(t); sc.From != StateOpen || sc.To != StateHalfOpen || sc.Cause != CauseCoolDown {
		t.Fatalf("state change = %+v", sc)
	}
	// One probe at a time.
	d = mustRefuse(t, l, "ep", Limits{}, ReasonCircuitOpen)
	if d.RetryAfter != 0 {
		t.Fatalf("RetryAfter while probing = %v, want 0", d.RetryAfter)
	}
	probe.Release(ok)
	checkState(t, l, "ep", StateClosed)
	if sc := log.last(t); sc.From != StateHalfOpen || sc.To != StateClosed || sc.Cause != CauseProbeOK {
		t.Fatalf("state change = %+v", sc)
	}
	if _, _, rate := l.State("ep"); rate != 0 {
		t.Fatalf("failure rate after closing = %v, want a fresh window", rate)
	}
	for range 20 {
		p := mustAdmit(t, l, "ep", Limits{})
		if p.Probe() {
			t.Fatal("delivery while closed is a probe")
		}
		p.Release(ok)
	}
}

func TestBreakerProbeFailureBacksOff(t *testing.T) {
	l, clk, log := newTestLanes(t, Config{})
	trip(t, l, "ep")
	want := DefaultCoolDown
	for _, next := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		clk.Advance(want)
		probe := mustAdmit(t, l, "ep", Limits{})
		probe.Release(fail)
		checkState(t, l, "ep", StateOpen)
		sc := log.last(t)
		if sc.Cause != CauseProbeFailed || sc.CoolDown != next {
			t.Fatalf("after a failed probe: %+v, want cool-down %v", sc, next)
		}
		d := mustRefuse(t, l, "ep", Limits{}, ReasonCircuitOpen)
		if d.RetryAfter != next {
			t.Fatalf("RetryAfter = %v, want %v", d.RetryAfter, next)
		}
		want = next
	}
	// Recovery resets the back-off once the breaker stays closed a window.
	clk.Advance(want)
	mustAdmit(t, l, "ep", Limits{}).Release(ok)
	checkState(t, l, "ep", StateClosed)
	clk.Advance(DefaultWindow)
	trip(t, l, "ep")
	if sc := log.last(t); sc.CoolDown != DefaultCoolDown {
		t.Fatalf("cool-down after a stable recovery = %v, want %v", sc.CoolDown, DefaultCoolDown)
	}
}

// An endpoint that passes its probe and fails again at once keeps backing
// off instead of being probed every CoolDown.
func TestBreakerFlappingBacksOff(t *testing.T) {
	l, clk, log := newTestLanes(t, Config{})
	trip(t, l, "ep")
	want := DefaultCoolDown
	for range 3 {
		clk.Advance(want)
		mustAdmit(t, l, "ep", Limits{}).Release(ok) // probe closes
		checkState(t, l, "ep", StateClosed)
		trip(t, l, "ep")
		want = min(2*want, DefaultMaxCoolDown)
		if sc := log.last(t); sc.CoolDown != want {
			t.Fatalf("cool-down after flapping = %v, want %v", sc.CoolDown, want)
		}
	}
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{Breaker: BreakerConfig{HalfOpenProbes: 3}})
	trip(t, l, "ep")
	clk.Advance(DefaultCoolDown)
	var probes []Permit
	for range 3 {
		p := mustAdmit(t, l, "ep", Limits{})
		if !p.Probe() {
			t.Fatal("not a probe")
		}
		probes = append(probes, p)
	}
	mustRefuse(t, l, "ep", Limits{}, ReasonCircuitOpen)
	// An aborted probe says nothing and frees its probe slot.
	probes[0].Release(Result{Aborted: true})
	checkState(t, l, "ep", StateHalfOpen)
	probes[0] = mustAdmit(t, l, "ep", Limits{})
	// The first answer decides; later probes' outcomes belong to a state
	// that has ended and are ignored.
	probes[1].Release(fail)
	checkState(t, l, "ep", StateOpen)
	probes[0].Release(ok)
	probes[2].Release(ok)
	checkState(t, l, "ep", StateOpen)
	if got := l.InFlight("ep"); got != 0 {
		t.Fatalf("InFlight = %d, want 0", got)
	}
}

// Outcomes of deliveries admitted before a transition do not count after
// it: a delivery that hung since before the breaker opened must not reopen
// it once it has closed, nor decide a half-open breaker.
func TestBreakerIgnoresStaleOutcomes(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	stale := []Permit{mustAdmit(t, l, "ep", Limits{}), mustAdmit(t, l, "ep", Limits{})}
	trip(t, l, "ep")
	clk.Advance(DefaultCoolDown)
	probe := mustAdmit(t, l, "ep", Limits{})
	stale[0].Release(timeout)
	checkState(t, l, "ep", StateHalfOpen)
	probe.Release(ok)
	checkState(t, l, "ep", StateClosed)
	for range DefaultConsecutiveTimeouts - 1 {
		deliver(t, l, "ep", timeout)
	}
	stale[1].Release(timeout) // would be the 5th
	checkState(t, l, "ep", StateClosed)
	if got := l.InFlight("ep"); got != 0 {
		t.Fatalf("InFlight = %d, want 0", got)
	}
}

func TestBreakerAbortedNotCounted(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{})
	for range 100 {
		deliver(t, l, "ep", Result{Aborted: true, Timeout: true})
	}
	checkState(t, l, "ep", StateClosed)
	if _, _, rate := l.State("ep"); rate != 0 {
		t.Fatalf("failure rate = %v, want 0", rate)
	}
}

func TestBreakerRulesOff(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{Breaker: BreakerConfig{Disabled: true}})
	for range 100 {
		deliver(t, l, "ep", timeout)
	}
	checkState(t, l, "ep", StateClosed)

	l, _, _ = newTestLanes(t, Config{Breaker: BreakerConfig{ConsecutiveTimeouts: -1}})
	for range 19 {
		deliver(t, l, "ep", timeout)
	}
	checkState(t, l, "ep", StateClosed)
	deliver(t, l, "ep", timeout) // the failure-rate rule still applies
	checkState(t, l, "ep", StateOpen)

	l, _, _ = newTestLanes(t, Config{Breaker: BreakerConfig{FailureRate: 1}})
	for range 100 {
		deliver(t, l, "ep", fail)
	}
	checkState(t, l, "ep", StateClosed)
}

func TestBreakerPerEndpoint(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{})
	trip(t, l, "bad")
	mustRefuse(t, l, "bad", Limits{}, ReasonCircuitOpen)
	deliver(t, l, "good", ok)
	checkState(t, l, "good", StateClosed)
}

func TestStateUnknownEndpoint(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{})
	state, since, rate := l.State("nope")
	if state != StateClosed || !since.IsZero() || rate != 0 {
		t.Fatalf("State of an unknown endpoint = %v, %v, %v", state, since, rate)
	}
	if l.InFlight("nope") != 0 {
		t.Fatal("InFlight of an unknown endpoint is not 0")
	}
}

// The hook runs without the lane locked, so it may query Lanes.
func TestOnStateChangeMayCallBack(t *testing.T) {
	var l *Lanes
	var seen []State
	l, _, _ = newTestLanes(t, Config{OnStateChange: func(sc StateChange) {
		s, _, _ := l.State(sc.EndpointID)
		seen = append(seen, s)
	}})
	trip(t, l, "ep")
	if len(seen) != 1 || seen[0] != StateOpen {
		t.Fatalf("hook saw %v, want [open]", seen)
	}
}
