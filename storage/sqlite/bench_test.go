package sqlite

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// BenchmarkWriteAttempts measures the log writer's path: batches of
// attempts from parallel goroutines, queued on the single writer.
func BenchmarkWriteAttempts(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := openTest(b, Options{})
			ctx := b.Context()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				batch := make([]domain.Attempt, size)
				for pb.Next() {
					for i := range batch {
						batch[i] = newAttempt("ep_1", "", "order.created", domain.OutcomeDelivered, time.Now())
					}
					if err := db.WriteAttempts(ctx, batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "attempts/s")
		})
	}
}

// BenchmarkListAttemptsWhileWriting measures API reads (a page of an
// endpoint's attempts) while a writer keeps adding attempts: reads use
// their own pool and are not queued behind writes.
func BenchmarkListAttemptsWhileWriting(b *testing.B) {
	db := openTest(b, Options{})
	ctx := b.Context()
	seed := make([]domain.Attempt, 2000)
	for i := range seed {
		seed[i] = newAttempt([]string{"ep_1", "ep_2"}[i%2], "", "order.created", domain.OutcomeFailed, time.Now())
	}
	if err := db.WriteAttempts(ctx, seed); err != nil {
		b.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			_ = db.WriteAttempts(ctx, []domain.Attempt{newAttempt("ep_1", "", "order.created", domain.OutcomeFailed, time.Now())})
		}
	}()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.ListAttempts(ctx, domain.AttemptFilter{EndpointID: "ep_1"}, storage.PageRequest{Limit: 50}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	stop.Store(true)
	<-done
}
