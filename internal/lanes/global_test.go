package lanes

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGlobalLimitNoWait(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxInFlight: 2, NoGlobalWait: true})
	a := mustAdmit(t, l, "a", Limits{})
	b := mustAdmit(t, l, "b", Limits{})
	mustRefuse(t, l, "c", Limits{}, ReasonGlobalLimit)
	if l.InFlight("c") != 0 || l.GlobalInFlight() != 2 {
		t.Fatalf("in flight: c %d, global %d", l.InFlight("c"), l.GlobalInFlight())
	}
	a.Release(ok)
	mustAdmit(t, l, "c", Limits{}).Release(ok)
	b.Release(ok)
	if l.GlobalInFlight() != 0 {
		t.Fatalf("GlobalInFlight = %d, want 0", l.GlobalInFlight())
	}
}

// waitForWaiters waits until n callers wait for a global slot.
func waitForWaiters(t *testing.T, l *Lanes, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.global.waiters.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting for a global slot, want %d", l.global.waiters.Load(), n)
		}
		runtime.Gosched()
	}
}

type acquired struct {
	p Permit
	d Decision
}

func acquireAsync(ctx context.Context, l *Lanes, id string, lim Limits) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		p, d := l.Acquire(ctx, id, lim)
		ch <- acquired{p, d}
	}()
	return ch
}

func TestGlobalLimitWaitsThenAdmits(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxInFlight: 2})
	a := mustAdmit(t, l, "a", Limits{})
	b := mustAdmit(t, l, "b", Limits{})
	res := acquireAsync(context.Background(), l, "c", Limits{})
	waitForWaiters(t, l, 1)
	// The waiter holds its endpoint slot while it waits.
	if got := l.InFlight("c"); got != 1 {
		t.Fatalf("InFlight(c) while waiting = %d, want 1", got)
	}
	select {
	case r := <-res:
		t.Fatalf("Acquire returned %v while the process was full", r.d.Reason)
	default:
	}
	a.Release(ok)
	r := <-res
	if !r.d.Admitted() {
		t.Fatalf("waiter: %v, want admitted", r.d.Reason)
	}
	r.p.Release(ok)
	b.Release(ok)
	if l.GlobalInFlight() != 0 || l.InFlight("c") != 0 {
		t.Fatal("slots left held")
	}
}

func TestGlobalLimitWaitCanceled(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxInFlight: 1})
	a := mustAdmit(t, l, "a", Limits{})

	ctx, cancel := context.WithCancel(context.Background())
	res := acquireAsync(ctx, l, "c", Limits{})
	waitForWaiters(t, l, 1)
	cancel()
	r := <-res
	if r.d.Reason != ReasonCanceled {
		t.Fatalf("canceled waiter: %v, want canceled", r.d.Reason)
	}
	if l.InFlight("c") != 0 || l.GlobalInFlight() != 1 {
		t.Fatalf("after cancel: c %d, global %d; want 0, 1", l.InFlight("c"), l.GlobalInFlight())
	}

	// A deadline bounds the wait the same way.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, d := l.Acquire(ctx, "c", Limits{})
	if d.Reason != ReasonCanceled || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("waiter past its deadline: %v", d.Reason)
	}
	a.Release(ok)
	mustAdmit(t, l, "c", Limits{}).Release(ok)
}

// The endpoint's own checks come first: a delivery that would be refused
// anyway is refused at once, not after waiting for a global slot.
func TestGlobalLimitEndpointChecksFirst(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxInFlight: 2})
	sat := mustAdmit(t, l, "sat", Limits{MaxConcurrency: 1})
	trip(t, l, "open")
	lim := Limits{RatePerSec: 1}
	mustAdmit(t, l, "rate", lim).Release(ok)
	other := mustAdmit(t, l, "other", Limits{})
	// The process is full now.
	mustRefuse(t, l, "sat", Limits{MaxConcurrency: 1}, ReasonSaturated)
	mustRefuse(t, l, "open", Limits{}, ReasonCircuitOpen)
	mustRefuse(t, l, "rate", lim, ReasonRateLimited)
	sat.Release(ok)
	other.Release(ok)
}

// A caller that waited for a global slot finds the endpoint's breaker
// opened meanwhile: refused, with nothing held.
func TestGlobalLimitWaitThenCircuitOpen(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxInFlight: 1, DefaultConcurrency: 10})
	held := mustAdmit(t, l, "ep", Limits{})
	res := acquireAsync(context.Background(), l, "ep", Limits{})
	waitForWaiters(t, l, 1)
	// Open the breaker by hand (deliveries would need global slots).
	ln := l.tab.shardFor("ep").get("ep")
	ln.mu.Lock()
	var ch change
	l.transition(ln, StateOpen, l.now(), CauseTimeouts, &ch)
	ln.mu.Unlock()
	held.Release(timeout) // stale: ignored
	r := <-res
	if r.d.Reason != ReasonCircuitOpen || r.d.RetryAfter != DefaultCoolDown {
		t.Fatalf("waiter: %v after %v, want circuit_open after %v", r.d.Reason, r.d.RetryAfter, DefaultCoolDown)
	}
	if l.InFlight("ep") != 0 || l.GlobalInFlight() != 0 {
		t.Fatalf("after refusal: ep %d, global %d", l.InFlight("ep"), l.GlobalInFlight())
	}
}

// Rate tokens are taken after the global wait, so waiters cannot bank
// them and burst together once slots free up.
func TestGlobalLimitWaitThenRate(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxInFlight: 1, DefaultConcurrency: 10})
	lim := Limits{RatePerSec: 1}
	held := mustAdmit(t, l, "x", Limits{})
	w1 := acquireAsync(context.Background(), l, "ep", lim)
	waitForWaiters(t, l, 1)
	w2 := acquireAsync(context.Background(), l, "ep", lim)
	waitForWaiters(t, l, 2)
	held.Release(ok)
	first := <-w1
	var second acquired
	if first.d.Admitted() {
		first.p.Release(ok)
		second = <-w2
	} else {
		second = first
		first = <-w2
		first.p.Release(ok)
	}
	if !first.d.Admitted() || second.d.Reason != ReasonRateLimited {
		t.Fatalf("waiters: %v and %v, want one admitted and one rate_limited", first.d.Reason, second.d.Reason)
	}
	if l.InFlight("ep") != 0 || l.GlobalInFlight() != 0 {
		t.Fatal("slots left held")
	}
}

// No waiter sleeps while a slot is free: with many more callers than
// slots, every caller gets through and the bound always holds.
func TestSemaphoreNoLostWakeups(t *testing.T) {
	const slots, workers, rounds = 3, 32, 300
	s := newSemaphore(slots)
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range workers {
		wg.Go(func() {
			for range rounds {
				if err := s.acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				runtime.Gosched()
				cur.Add(-1)
				s.release()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("stuck: %d in flight, %d waiting", s.n.Load(), s.waiters.Load())
	}
	if p := peak.Load(); p > slots {
		t.Fatalf("peak %d in flight, bound %d", p, slots)
	}
	if s.n.Load() != 0 {
		t.Fatalf("%d slots still held", s.n.Load())
	}
}

// Waiters that give up do not strand those that stay.
func TestSemaphoreCanceledWaiters(t *testing.T) {
	s := newSemaphore(1)
	if !s.tryAcquire() {
		t.Fatal("tryAcquire failed on an empty semaphore")
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- s.acquire(ctx) }()
	}
	stayer := make(chan error, 1)
	go func() { stayer <- s.acquire(context.Background()) }()
	for s.waiters.Load() != 9 {
		runtime.Gosched()
	}
	s.release()
	cancel()
	// A canceled waiter may have got the slot before noticing: it then
	// holds it, like any caller, until it releases.
	for range 8 {
		if err := <-errs; err == nil {
			s.release()
		}
	}
	select {
	case err := <-stayer:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("remaining waiter stranded: %d held, %d waiting", s.n.Load(), s.waiters.Load())
	}
}

// A probe that waited for a global slot while another probe closed the
// breaker goes on as an ordinary delivery.
func TestGlobalLimitWaitingProbeAfterClose(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{MaxInFlight: 2, Breaker: BreakerConfig{HalfOpenProbes: 2}})
	trip(t, l, "ep")
	clk.Advance(DefaultCoolDown)
	first := mustAdmit(t, l, "ep", Limits{})
	other := mustAdmit(t, l, "other", Limits{}) // the process is full
	res := acquireAsync(context.Background(), l, "ep", Limits{})
	waitForWaiters(t, l, 1)
	first.Release(ok) // closes the breaker and frees a slot
	r := <-res
	if !r.d.Admitted() || r.p.Probe() {
		t.Fatalf("waiting probe: %v, probe %v; want admitted as an ordinary delivery", r.d.Reason, r.p.Probe())
	}
	checkState(t, l, "ep", StateClosed)
	r.p.Release(timeout) // counted under the closed state
	ln := l.tab.shardFor("ep").get("ep")
	ln.mu.Lock()
	timeouts := ln.timeouts
	ln.mu.Unlock()
	if timeouts != 1 {
		t.Fatalf("timeouts = %d, want the outcome counted", timeouts)
	}
	other.Release(ok)
}
