package lanes

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// The hot path: Acquire and Release of one delivery, on the system clock,
// with the endpoint's lane already made. Limits are loose enough that
// everything is admitted, so the benchmark measures the bookkeeping, not
// refusals.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, endpoints := range []int{1, 1000} {
		for _, rate := range []float64{0, 1e9} {
			name := fmt.Sprintf("endpoints=%d/rate=%s", endpoints, map[bool]string{true: "limited", false: "unlimited"}[rate > 0])
			b.Run(name+"/serial", func(b *testing.B) {
				l, ids, lim := benchLanes(b, endpoints, rate)
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					p, d := l.Acquire(ctx, ids[i%len(ids)], lim)
					if !d.Admitted() {
						b.Fatal(d.Reason)
					}
					p.Release(Result{Success: true})
					i++
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				l, ids, lim := benchLanes(b, endpoints, rate)
				ctx := context.Background()
				var worker atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := int(worker.Add(1)) * 7919
					for pb.Next() {
						p, d := l.Acquire(ctx, ids[i%len(ids)], lim)
						if !d.Admitted() {
							b.Error(d.Reason)
							return
						}
						p.Release(Result{Success: true})
						i++
					}
				})
			})
		}
	}
}

func benchLanes(b *testing.B, endpoints int, rate float64) (*Lanes, []string, Limits) {
	b.Helper()
	l, err := New(Config{MaxInFlight: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, endpoints)
	lim := Limits{MaxConcurrency: 1 << 20, RatePerSec: rate}
	for i := range ids {
		ids[i] = fmt.Sprintf("ep_%08d", i)
		p, _ := l.Acquire(context.Background(), ids[i], lim)
		p.Release(Result{Success: true})
	}
	return l, ids, lim
}
