package lanes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many goroutines, everything at once: admissions, releases with random
// outcomes (breakers open and close), rate waits, global waits, limit
// changes, and a clock moving fast enough that lanes are swept while in
// use. Run with -race. Whatever the interleaving, no endpoint ever has more
// deliveries in flight than its bound, the process never more than
// MaxInFlight, and everything is given back at the end.
func TestRace(t *testing.T) {
	const (
		workers     = 16
		ops         = 1500
		hot         = 40   // busy endpoints
		endpoints   = 1000 // the rest come and go
		maxInFlight = 8
	)
	l, clk, _ := newTestLanes(t, Config{
		MaxInFlight: maxInFlight,
		MaxRateWait: 2 * time.Millisecond,
		IdleTTL:     50 * time.Millisecond,
		Breaker:     BreakerConfig{CoolDown: 20 * time.Millisecond, MaxCoolDown: 80 * time.Millisecond},
	})
	var (
		inFlight [endpoints]atomic.Int32
		global   atomic.Int32
		admitted atomic.Int64
		reasons  [ReasonCanceled + 1]atomic.Int64
		wg       sync.WaitGroup
	)
	limitsOf := func(i, gen int) Limits {
		// Bounds never go above 1+i%4; some endpoints change their rate.
		return Limits{MaxConcurrency: 1 + i%4, RatePerSec: float64((i + gen) % 3 * 20)}
	}
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for op := range ops {
				// The workers move the clock themselves: a ticking
				// goroutine would be starved by them on a small machine.
				if r.IntN(10) == 0 {
					clk.Advance(time.Millisecond)
				}
				i := r.IntN(hot)
				if r.IntN(4) == 0 {
					i = r.IntN(endpoints)
				}
				id := fmt.Sprint("ep", i)
				lim := limitsOf(i, op/500)
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.IntN(20) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Millisecond)
				}
				p, d := l.Acquire(ctx, id, lim)
				cancel()
				reasons[d.Reason].Add(1)
				if !d.Admitted() {
					continue
				}
				admitted.Add(1)
				if n := inFlight[i].Add(1); n > int32(lim.MaxConcurrency) {
					t.Errorf("%s: %d in flight, bound %d", id, n, lim.MaxConcurrency)
				}
				if n := global.Add(1); n > maxInFlight {
					t.Errorf("%d in flight, global bound %d", n, maxInFlight)
				}
				if r.IntN(4) == 0 {
					_, _, _ = l.State(id)
				}
				var res Result
				switch x := r.IntN(10); {
				case x < 6:
					res = ok
				case x < 8:
					res = timeout
				case x < 9:
					res = fail
				default:
					res = Result{Aborted: true}
				}
				if r.IntN(4) == 0 {
					runtime.Gosched() // hold it a while: others wait for global slots
				}
				inFlight[i].Add(-1)
				global.Add(-1)
				p.Release(res)
			}
		})
	}
	wg.Wait()
	for i := range endpoints {
		if n := l.InFlight(fmt.Sprint("ep", i)); n != 0 {
			t.Errorf("ep%d: %d in flight at the end", i, n)
		}
	}
	if n := l.GlobalInFlight(); n != 0 {
		t.Errorf("%d global slots held at the end", n)
	}
	var summary []string
	for r := range reasons {
		summary = append(summary, fmt.Sprintf("%v=%d", Reason(r), reasons[r].Load()))
	}
	t.Logf("admitted %d; %v; %d lanes left after %v", admitted.Load(), summary, l.Len(), time.Duration(l.now()))
	for _, r := range []Reason{ReasonNone, ReasonSaturated, ReasonRateLimited, ReasonCircuitOpen} {
		if reasons[r].Load() == 0 {
			t.Errorf("the schedule never produced %v", r)
		}
	}
}
