package lanes

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestEvictIdle(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	deliver(t, l, "idle", ok)
	busy := mustAdmit(t, l, "busy", Limits{MaxConcurrency: 1})
	if l.Len() != 2 {
		t.Fatalf("Len = %d, want 2", l.Len())
	}
	clk.Advance(DefaultIdleTTL - time.Second)
	if n := l.Sweep(); n != 0 {
		t.Fatalf("swept %d before IdleTTL", n)
	}
	clk.Advance(time.Second)
	if n := l.Sweep(); n != 1 || l.Len() != 1 {
		t.Fatalf("swept %d, Len %d: want the idle lane evicted and the busy one kept", n, l.Len())
	}
	// Hours later, the busy lane still counts its delivery.
	clk.Advance(5 * time.Hour)
	l.Sweep()
	mustRefuse(t, l, "busy", Limits{MaxConcurrency: 1}, ReasonSaturated)
	busy.Release(ok)
	clk.Advance(DefaultIdleTTL)
	if n := l.Sweep(); n != 1 || l.Len() != 0 {
		t.Fatalf("swept %d, Len %d: want the released lane evicted", n, l.Len())
	}
	// An evicted endpoint starts afresh.
	state, since, _ := l.State("idle")
	if state != StateClosed || !since.IsZero() {
		t.Fatalf("State of an evicted endpoint = %v since %v", state, since)
	}
	deliver(t, l, "idle", ok)
}

// Use keeps a lane: rejected Acquires count as use too.
func TestEvictKeepsUsedLanes(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	p := mustAdmit(t, l, "ep", Limits{MaxConcurrency: 1})
	p.Release(ok)
	for range 20 {
		clk.Advance(DefaultIdleTTL / 2)
		mustAdmit(t, l, "ep", Limits{}).Release(ok)
		l.Sweep()
	}
	if l.Len() != 1 {
		t.Fatalf("Len = %d, want the used lane kept", l.Len())
	}
}

// An open breaker is not forgotten while it still matters: an endpoint
// that came back into use after eviction would skip its cool-down.
func TestEvictKeepsOpenBreakerThroughCoolDown(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{Breaker: BreakerConfig{CoolDown: 20 * time.Minute, MaxCoolDown: time.Hour}})
	trip(t, l, "ep")
	clk.Advance(DefaultIdleTTL)
	l.Sweep()
	checkState(t, l, "ep", StateOpen)
	clk.Advance(20 * time.Minute)
	if n := l.Sweep(); n != 1 {
		t.Fatalf("swept %d, want the long-idle open lane evicted", n)
	}
}

// A bucket still refilling is not forgotten: a new one would start full
// and let deliveries through early.
func TestEvictKeepsRefillingBucket(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	slow := Limits{RatePerSec: 1.0 / 3600} // one an hour
	mustAdmit(t, l, "ep", slow).Release(ok)
	clk.Advance(DefaultIdleTTL)
	l.Sweep()
	mustRefuse(t, l, "ep", slow, ReasonRateLimited)
	clk.Advance(time.Hour)
	l.Sweep()
	if l.Len() != 0 {
		t.Fatalf("Len = %d, want the refilled lane evicted", l.Len())
	}
}

// Endpoints that come and go do not grow the table: the sweeps Acquire
// runs, a shard at a time, evict the lanes of the ones gone.
func TestEvictAmortizedChurn(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	const perWave, waves = 2000, 25 // 50k endpoints in all
	for w := range waves {
		for i := range perWave {
			deliver(t, l, fmt.Sprintf("wave%d-ep%d", w, i), ok)
		}
		if got := l.Len(); got > 2*perWave {
			t.Fatalf("after wave %d: %d lanes, want at most %d", w, got, 2*perWave)
		}
		clk.Advance(DefaultIdleTTL + time.Second)
	}
}

// A shard whose map has shrunk to a quarter of its peak gets a new map.
func TestSweepShrinksMap(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	sh := &l.tab.shards[0]
	for i := range 2 * shrinkMin {
		sh.getOrCreate(l, fmt.Sprint(i), Limits{}, l.now())
	}
	if sh.peak != 2*shrinkMin {
		t.Fatalf("peak = %d", sh.peak)
	}
	clk.Advance(DefaultIdleTTL)
	deliver(t, l, "survivor", ok) // may land in another shard: fine
	if n := sh.sweep(l, l.now()); n != 2*shrinkMin {
		t.Fatalf("swept %d, want %d", n, 2*shrinkMin)
	}
	if sh.peak != len(sh.lanes) {
		t.Fatalf("peak %d after shrinking to %d lanes", sh.peak, len(sh.lanes))
	}
}

// A caller that looked a lane up just before a sweep evicted it looks
// again rather than counting on a lane nobody else can see.
func TestAcquireSkipsEvictedLane(t *testing.T) {
	l, clk, _ := newTestLanes(t, Config{})
	deliver(t, l, "ep", ok)
	sh := l.tab.shardFor("ep")
	old := sh.get("ep")
	clk.Advance(DefaultIdleTTL)

	// Play the sweeper by hand, with a caller arriving between its lookup
	// and the eviction: hold the lane's lock as the sweeper does, let the
	// caller find the lane and block on it, then evict and unlock.
	old.mu.Lock()
	type result struct {
		p Permit
		d Decision
	}
	done := make(chan result)
	go func() {
		p, d := l.Acquire(context.Background(), "ep", Limits{})
		done <- result{p, d}
	}()
	time.Sleep(20 * time.Millisecond) // let the caller reach the lock
	sh.mu.Lock()
	old.evicted = true
	delete(sh.lanes, "ep")
	sh.mu.Unlock()
	old.mu.Unlock()

	r := <-done
	if !r.d.Admitted() {
		t.Fatalf("Acquire: %v", r.d.Reason)
	}
	if r.p.ln == old || old.inFlight != 0 {
		t.Fatal("admitted on an evicted lane")
	}
	if sh.get("ep") != r.p.ln {
		t.Fatal("admitted on a lane not in the table")
	}
	r.p.Release(ok)
}
