package lanes

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero is defaults", Config{}, ""},
		{"negative MaxInFlight", Config{MaxInFlight: -1}, "MaxInFlight"},
		{"negative DefaultConcurrency", Config{DefaultConcurrency: -1}, "DefaultConcurrency"},
		{"negative MaxRateWait", Config{MaxRateWait: -time.Millisecond}, "MaxRateWait"},
		{"negative IdleTTL", Config{IdleTTL: -time.Second}, "IdleTTL"},
		{"negative Window", Config{Breaker: BreakerConfig{Window: -time.Second}}, "Window"},
		{"tiny Window", Config{Breaker: BreakerConfig{Window: 5}}, "Window"},
		{"negative MinRequests", Config{Breaker: BreakerConfig{MinRequests: -1}}, "MinRequests"},
		{"FailureRate above 1", Config{Breaker: BreakerConfig{FailureRate: 1.5}}, "FailureRate"},
		{"FailureRate NaN", Config{Breaker: BreakerConfig{FailureRate: math.NaN()}}, "FailureRate"},
		{"negative CoolDown", Config{Breaker: BreakerConfig{CoolDown: -time.Second}}, "CoolDown"},
		{"MaxCoolDown below CoolDown", Config{Breaker: BreakerConfig{CoolDown: time.Minute, MaxCoolDown: time.Second}}, "MaxCoolDown"},
		{"huge IdleTTL", Config{IdleTTL: 365 * 24 * time.Hour}, "IdleTTL"},
		{"huge Window", Config{Breaker: BreakerConfig{Window: 48 * time.Hour}}, "Window"},
		{"huge CoolDown", Config{Breaker: BreakerConfig{CoolDown: 48 * time.Hour}}, "CoolDown"},
		{"huge MaxCoolDown", Config{Breaker: BreakerConfig{MaxCoolDown: 48 * time.Hour}}, "MaxCoolDown"},
		{"negative HalfOpenProbes", Config{Breaker: BreakerConfig{HalfOpenProbes: -1}}, "HalfOpenProbes"},
		{"timeouts rule off", Config{Breaker: BreakerConfig{ConsecutiveTimeouts: -1}}, ""},
		{"rate rule off", Config{Breaker: BreakerConfig{FailureRate: 1}}, ""},
		{"long CoolDown raises default MaxCoolDown", Config{Breaker: BreakerConfig{CoolDown: time.Hour}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: error %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if l.global.max != DefaultMaxInFlight || l.defaultConc != DefaultMaxConcurrency ||
		l.idleTTL != int64(DefaultIdleTTL) || l.window != int64(DefaultWindow) ||
		l.minRequests != DefaultMinRequests || l.failureRate != DefaultFailureRate ||
		l.consecTimeouts != DefaultConsecutiveTimeouts || l.coolDown != int64(DefaultCoolDown) ||
		l.maxCoolDown != int64(DefaultMaxCoolDown) || l.halfOpenProbes != DefaultHalfOpenProbes {
		t.Fatalf("defaults not applied: %+v", l)
	}
}

func TestStrings(t *testing.T) {
	for r, want := range map[Reason]string{
		ReasonNone: "admitted", ReasonSaturated: "saturated", ReasonRateLimited: "rate_limited",
		ReasonCircuitOpen: "circuit_open", ReasonGlobalLimit: "global_limit", ReasonCanceled: "canceled",
		Reason(99): "unknown",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, want)
		}
	}
	for s, want := range map[State]string{
		StateClosed: "closed", StateOpen: "open", StateHalfOpen: "half_open", State(9): "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestConcurrencyCap(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		lim  Limits
		want int
	}{
		{"endpoint limit", Config{}, Limits{MaxConcurrency: 3}, 3},
		{"default when 0", Config{DefaultConcurrency: 5}, Limits{}, 5},
		{"default when negative", Config{DefaultConcurrency: 2}, Limits{MaxConcurrency: -4}, 2},
		{"one", Config{}, Limits{MaxConcurrency: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, _ := newTestLanes(t, tt.cfg)
			var held []Permit
			for range tt.want {
				held = append(held, mustAdmit(t, l, "ep", tt.lim))
			}
			d := mustRefuse(t, l, "ep", tt.lim, ReasonSaturated)
			if d.RetryAfter != 0 {
				t.Errorf("saturated RetryAfter = %v, want 0", d.RetryAfter)
			}
			// Other endpoints are not affected.
			mustAdmit(t, l, "other", tt.lim).Release(ok)
			if got := l.InFlight("ep"); got != tt.want {
				t.Fatalf("InFlight = %d, want %d", got, tt.want)
			}
			held[0].Release(ok)
			held[0] = mustAdmit(t, l, "ep", tt.lim)
			mustRefuse(t, l, "ep", tt.lim, ReasonSaturated)
			for _, p := range held {
				p.Release(ok)
			}
			if got := l.InFlight("ep"); got != 0 {
				t.Fatalf("InFlight after releasing all = %d, want 0", got)
			}
			if got := l.GlobalInFlight(); got != 0 {
				t.Fatalf("GlobalInFlight after releasing all = %d, want 0", got)
			}
		})
	}
}

func TestZeroPermitRelease(t *testing.T) {
	var p Permit
	p.Release(ok) // must not panic
	if p.Probe() {
		t.Fatal("zero permit is a probe")
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		rate      float64
		burst     int
		nextToken time.Duration // after the burst is spent
	}{
		{rate: 10, burst: 10, nextToken: 100 * time.Millisecond},
		{rate: 1, burst: 1, nextToken: time.Second},
		{rate: 0.5, burst: 1, nextToken: 2 * time.Second},
		{rate: 2.5, burst: 3, nextToken: 400 * time.Millisecond},
		{rate: 1000, burst: 1000, nextToken: time.Millisecond},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			l, clk, _ := newTestLanes(t, Config{DefaultConcurrency: 1000})
			lim := Limits{RatePerSec: tt.rate}
			// Burst: all at once.
			for range tt.burst {
				mustAdmit(t, l, "ep", lim).Release(ok)
			}
			d := mustRefuse(t, l, "ep", lim, ReasonRateLimited)
			if d.RetryAfter != tt.nextToken {
				t.Fatalf("RetryAfter = %v, want %v", d.RetryAfter, tt.nextToken)
			}
			// A refusal takes no token: the next one is still due then.
			clk.Advance(tt.nextToken - time.Nanosecond)
			mustRefuse(t, l, "ep", lim, ReasonRateLimited)
			clk.Advance(time.Nanosecond)
			mustAdmit(t, l, "ep", lim).Release(ok)
			mustRefuse(t, l, "ep", lim, ReasonRateLimited)

			// Steady state: polled every millisecond for 10 s, the endpoint
			// gets exactly rate*10 s deliveries.
			admitted := 0
			for range 10_000 {
				clk.Advance(time.Millisecond)
				p, d := l.Acquire(context.Background(), "ep", lim)
				if d.Admitted() {
					admitted++
					p.Release(ok)
				}
			}
			if want := int(tt.rate * 10); admitted != want {
				t.Fatalf("admitted %d in 10 s, want %d", admitted, want)
			}

			// Idle refills up to the burst, not beyond.
			clk.Advance(time.Hour)
			for range tt.burst {
				mustAdmit(t, l, "ep", lim).Release(ok)
			}
			mustRefuse(t, l, "ep", lim, ReasonRateLimited)
		})
	}
}

func TestRateUnlimited(t *testing.T) {
	for _, rate := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		l, _, _ := newTestLanes(t, Config{})
		for range 10_000 {
			mustAdmit(t, l, "ep", Limits{RatePerSec: rate}).Release(ok)
		}
	}
}

func TestRateWait(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{MaxRateWait: 5 * time.Millisecond, DefaultConcurrency: 1000})
	lim := Limits{RatePerSec: 1000} // a token every millisecond
	var held []Permit
	for range 1000 {
		held = append(held, mustAdmit(t, l, "ep", lim))
	}
	if clk.Slept() != 0 {
		t.Fatalf("slept %v within the burst", clk.Slept())
	}
	for _, p := range held {
		p.Release(ok)
	}
	// The next token is 1 ms away: within MaxRateWait, Acquire waits for it.
	mustAdmit(t, l, "ep", lim).Release(ok)
	if got := clk.Slept(); got != time.Millisecond {
		t.Fatalf("slept %v, want 1ms", got)
	}
	// A slow rate's next token is beyond MaxRateWait: refused at once.
	slow := Limits{RatePerSec: 10}
	for range 10 {
		mustAdmit(t, l, "slow", slow).Release(ok)
	}
	before := clk.Slept()
	d := mustRefuse(t, l, "slow", slow, ReasonRateLimited)
	if d.RetryAfter != 100*time.Millisecond || clk.Slept() != before {
		t.Fatalf("RetryAfter %v, slept %v: want 100ms and no sleep", d.RetryAfter, clk.Slept()-before)
	}
}

// Callers that wait for tokens queue behind each other's debts: with
// MaxRateWait 5 tokens' worth, at most 5 callers can be waiting.
func TestRateWaitQueues(t *testing.T) {
	clk := newFakeClock()
	sleeper := &recordingSleeper{fakeClock: clk}
	l, err := New(Config{MaxRateWait: 5 * time.Millisecond, Clock: sleeper, DefaultConcurrency: 100})
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{RatePerSec: 1000}
	for range 1000 {
		mustAdmit(t, l, "ep", lim).Release(ok)
	}
	for i := 1; i <= 5; i++ {
		mustAdmit(t, l, "ep", lim).Release(ok)
		if want := time.Duration(i) * time.Millisecond; sleeper.last != want {
			t.Fatalf("caller %d slept %v, want %v", i, sleeper.last, want)
		}
	}
	d := mustRefuse(t, l, "ep", lim, ReasonRateLimited)
	if d.RetryAfter != 6*time.Millisecond {
		t.Fatalf("RetryAfter = %v, want 6ms", d.RetryAfter)
	}
}

// recordingSleeper records sleeps without advancing the clock, as if the
// callers slept concurrently.
type recordingSleeper struct {
	*fakeClock
	last time.Duration
}

func (r *recordingSleeper) Sleep(ctx context.Context, d time.Duration) error {
	r.last = d
	return ctx.Err()
}

func TestRateWaitCanceled(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxRateWait: 5 * time.Millisecond})
	lim := Limits{RatePerSec: 1000}
	for range 1000 {
		mustAdmit(t, l, "ep", lim).Release(ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, d := l.Acquire(ctx, "ep", lim)
	if d.Reason != ReasonCanceled || p.ln != nil {
		t.Fatalf("Acquire with canceled ctx while waiting for a token: %v, want canceled", d.Reason)
	}
	if l.InFlight("ep") != 0 || l.GlobalInFlight() != 0 {
		t.Fatalf("in flight after cancel: endpoint %d, global %d", l.InFlight("ep"), l.GlobalInFlight())
	}
	// The token was given back: the next caller waits only for the first
	// one due, not behind the canceled caller's debt.
	ln := l.tab.shardFor("ep").get("ep")
	ln.mu.Lock()
	tokens := ln.bucket.tokens
	ln.mu.Unlock()
	if tokens < -1e-9 {
		t.Fatalf("bucket tokens = %v after cancel, want the token refunded", tokens)
	}
}

func TestLimitChangesMidFlight(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	four := Limits{MaxConcurrency: 4}
	var held []Permit
	for range 4 {
		held = append(held, mustAdmit(t, l, "ep", four))
	}
	// Lowered below what is in flight: refused until enough finish, and
	// nothing in flight is forgotten.
	two := Limits{MaxConcurrency: 2}
	mustRefuse(t, l, "ep", two, ReasonSaturated)
	held[0].Release(ok)
	held[1].Release(ok)
	mustRefuse(t, l, "ep", two, ReasonSaturated) // 2 in flight
	held[2].Release(ok)
	held[2] = mustAdmit(t, l, "ep", two) // 1 in flight before
	mustRefuse(t, l, "ep", two, ReasonSaturated)
	// Raised: admitted at once.
	eight := Limits{MaxConcurrency: 8}
	for range 6 {
		held = append(held, mustAdmit(t, l, "ep", eight))
	}
	mustRefuse(t, l, "ep", eight, ReasonSaturated)
	for _, p := range held[2:] {
		p.Release(ok)
	}
	if got := l.InFlight("ep"); got != 0 {
		t.Fatalf("InFlight = %d, want 0", got)
	}

	// Rate: spent tokens stay spent when the rate changes.
	ten := Limits{MaxConcurrency: 100, RatePerSec: 10}
	for range 10 {
		mustAdmit(t, l, "r", ten).Release(ok)
	}
	hundred := Limits{MaxConcurrency: 100, RatePerSec: 100}
	d := mustRefuse(t, l, "r", hundred, ReasonRateLimited)
	if d.RetryAfter != 10*time.Millisecond {
		t.Fatalf("RetryAfter at the new rate = %v, want 10ms", d.RetryAfter)
	}
	clk.Advance(time.Second) // refills to the new burst of 100
	for range 100 {
		mustAdmit(t, l, "r", hundred).Release(ok)
	}
	mustRefuse(t, l, "r", hundred, ReasonRateLimited)
	// Lowering the rate caps the tokens at the new burst.
	clk.Advance(time.Second)
	one := Limits{MaxConcurrency: 100, RatePerSec: 1}
	mustAdmit(t, l, "r", one).Release(ok)
	mustRefuse(t, l, "r", one, ReasonRateLimited)
	// Unlimited, then limited again: starts with a full burst.
	for range 50 {
		mustAdmit(t, l, "r", Limits{MaxConcurrency: 100}).Release(ok)
	}
	for range 10 {
		mustAdmit(t, l, "r", ten).Release(ok)
	}
	mustRefuse(t, l, "r", ten, ReasonRateLimited)
}
