package lanes

import (
	"context"
	"testing"
	"time"
)

// A saturated endpoint's caller waits (Config.SaturationWait) and takes
// the slot a Release frees, instead of being refused at once.
func TestSaturationWaitTakesAFreedSlot(t *testing.T) {
	l, err := New(Config{SaturationWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{MaxConcurrency: 1}
	p1, d := l.Acquire(t.Context(), "ep", lim)
	if !d.Admitted() {
		t.Fatal(d.Reason)
	}
	got := make(chan Decision, 1)
	go func() {
		p, d := l.Acquire(t.Context(), "ep", lim)
		got <- d
		p.Release(Result{Success: true})
	}()
	waitWaiters(t, l, "ep", 1)
	p1.Release(Result{Success: true})
	select {
	case d := <-got:
		if !d.Admitted() {
			t.Fatalf("waiter refused: %v", d.Reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not woken by the release")
	}
}

// Without a release the wait ends with ReasonSaturated; callers beyond the
// endpoint's bound of waiters, and callers of a lane whose breaker is not
// closed, are refused without waiting; a canceled wait says so and leaves
// no waiter behind.
func TestSaturationWaitIsBounded(t *testing.T) {
	l, err := New(Config{SaturationWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{MaxConcurrency: 1}
	p1, _ := l.Acquire(t.Context(), "ep", lim)
	defer p1.Release(Result{Success: true})
	if _, d := l.Acquire(t.Context(), "ep", lim); d.Reason != ReasonSaturated {
		t.Fatalf("after the wait: %v, want saturated", d.Reason)
	}

	long, err := New(Config{SaturationWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	q1, _ := long.Acquire(t.Context(), "ep", lim)
	defer q1.Release(Result{Success: true})
	ctx, cancel := context.WithCancel(t.Context())
	waited := make(chan Decision, 4)
	for range 4 {
		go func() {
			_, d := long.Acquire(ctx, "ep", lim)
			waited <- d
		}()
	}
	waitWaiters(t, long, "ep", 4)
	// The bound of waiters is four times the endpoint's concurrency (1):
	// the next caller is refused at once, not after a minute.
	refused := make(chan Decision, 1)
	go func() {
		_, d := long.Acquire(t.Context(), "ep", lim)
		refused <- d
	}()
	select {
	case d := <-refused:
		if d.Reason != ReasonSaturated {
			t.Fatalf("caller beyond the waiters' bound: %v", d.Reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a caller beyond the bound of waiters waited")
	}
	cancel()
	for range 4 {
		if d := <-waited; d.Reason != ReasonCanceled {
			t.Fatalf("canceled wait: %v", d.Reason)
		}
	}
	waitWaiters(t, long, "ep", 0)
}

func waitWaiters(t *testing.T, l *Lanes, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sh := l.tab.shardFor(id)
		sh.mu.RLock()
		ln := sh.lanes[id]
		sh.mu.RUnlock()
		if ln != nil {
			ln.mu.Lock()
			got := ln.waiting()
			ln.mu.Unlock()
			if got == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lane %s never had %d waiters", id, n)
		}
		time.Sleep(time.Millisecond)
	}
}
