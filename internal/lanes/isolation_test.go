package lanes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Isolation (DESIGN.md invariant 3), as a property over random schedules:
// an endpoint whose deliveries never complete is refused at once, every
// time, and whatever it does, each other endpoint's answer depends on that
// endpoint's own state only: admitted exactly when its own in-flight count
// is below its own bound.
func TestIsolationProperty(t *testing.T) {
	for seed := range uint64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			const others = 20
			hungLim := Limits{MaxConcurrency: 1 + r.IntN(8)}
			caps := make([]int, others)
			maxInFlight := hungLim.MaxConcurrency
			for i := range caps {
				caps[i] = 1 + r.IntN(4)
				maxInFlight += caps[i]
			}
			// Enough global room for every endpoint's own bound: global
			// backpressure is another test's business.
			l, clk, _ := newTestLanes(t, Config{MaxInFlight: maxInFlight})

			var hung []Permit
			held := make([][]Permit, others)
			for step := range 5000 {
				switch op := r.IntN(10); {
				case op < 3: // the hung endpoint gets traffic
					p, d := l.Acquire(context.Background(), "hung", hungLim)
					if len(hung) < hungLim.MaxConcurrency {
						if !d.Admitted() {
							t.Fatalf("step %d: hung endpoint refused below its bound: %v", step, d.Reason)
						}
						hung = append(hung, p)
					} else if d.Reason != ReasonSaturated {
						t.Fatalf("step %d: hung endpoint at its bound: %v, want saturated", step, d.Reason)
					}
				case op < 7: // another endpoint gets traffic
					i := r.IntN(others)
					id := fmt.Sprint("ep", i)
					p, d := l.Acquire(context.Background(), id, Limits{MaxConcurrency: caps[i]})
					want := len(held[i]) < caps[i]
					if d.Admitted() != want {
						t.Fatalf("step %d: %s with %d/%d in flight: %v", step, id, len(held[i]), caps[i], d.Reason)
					}
					if d.Admitted() {
						held[i] = append(held[i], p)
					}
				case op < 9: // another endpoint's delivery completes
					i := r.IntN(others)
					if n := len(held[i]); n > 0 {
						held[i][n-1].Release(ok)
						held[i] = held[i][:n-1]
					}
				default:
					clk.Advance(time.Duration(r.IntN(int(time.Minute))))
				}
			}
			if got := l.InFlight("hung"); got != len(hung) {
				t.Fatalf("hung endpoint in flight: %d, want %d", got, len(hung))
			}
		})
	}
}

// The same with real goroutines: callers hammering a hung endpoint never
// block, and the other endpoints' callers are all admitted meanwhile. When
// the hung deliveries finally time out, the breaker opens and the others
// still go on.
func TestIsolationConcurrent(t *testing.T) {
	l, _, _ := newTestLanes(t, Config{MaxInFlight: 1000, DefaultConcurrency: 8})
	var hung []Permit
	for range 8 {
		hung = append(hung, mustAdmit(t, l, "hung", Limits{}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		wg                  sync.WaitGroup
		hungSaturated, good atomic.Int64
		maxHungCall         atomic.Int64
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				if g%2 == 0 {
					start := time.Now()
					p, d := l.Acquire(ctx, "hung", Limits{})
					if d.Admitted() {
						p.Release(Result{Aborted: true})
						t.Error("hung endpoint admitted past its bound")
						return
					}
					hungSaturated.Add(1)
					if el := int64(time.Since(start)); el > maxHungCall.Load() {
						maxHungCall.Store(el)
					}
					continue
				}
				id := fmt.Sprint("ep", (g*2000+i)%50)
				p, d := l.Acquire(ctx, id, Limits{})
				if !d.Admitted() {
					t.Errorf("%s refused while another endpoint hangs: %v", id, d.Reason)
					return
				}
				good.Add(1)
				p.Release(ok)
			}
		})
	}
	wg.Wait()
	if hungSaturated.Load() != 4*2000 || good.Load() != 4*2000 {
		t.Fatalf("hung refused %d, others admitted %d; want 8000 each", hungSaturated.Load(), good.Load())
	}
	t.Logf("slowest Acquire on the hung endpoint: %v", time.Duration(maxHungCall.Load()))

	for _, p := range hung {
		p.Release(timeout)
	}
	checkState(t, l, "hung", StateOpen)
	mustRefuse(t, l, "hung", Limits{}, ReasonCircuitOpen)
	deliver(t, l, "ep1", ok)
}
