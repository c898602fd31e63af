package cassandra

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

// BenchmarkWriter measures the Writer against the real Cassandra over a
// sweep of batch size × in-flight batches, the way the log writer uses
// it: benchProducers goroutines (one per Kafka partition being consumed)
// each write polls of benchPoll attempts and wait until they are durable.
// It reports sustained attempts/s and the p99 latency of one poll's write.
//
//	go test -bench . -run '^$' ./storage/cassandra/
func BenchmarkWriter(b *testing.B) {
	s, _ := newTestStore(b, storage.DefaultRetention, Options{})
	endpoints := make([]string, benchEndpoints)
	for i := range endpoints {
		endpoints[i] = ids.New(ids.Endpoint)
	}
	// Warm up (JIT, caches, memtables) so the first setting measured is not
	// penalized.
	benchWarmUp(b, s, endpoints)
	for _, batch := range []int{1, 16, 64, 256} {
		for _, inflight := range []int{4, 16, 64} {
			b.Run(fmt.Sprintf("batch=%d/inflight=%d", batch, inflight), func(b *testing.B) {
				benchWriter(b, s, endpoints, WriterOptions{MaxBatch: batch, MaxInFlight: inflight})
			})
		}
	}
}

const (
	benchProducers = 16
	benchPoll      = 32
	benchEndpoints = 50
)

func benchWriter(b *testing.B, s *Store, endpoints []string, opts WriterOptions) {
	// Realistic attempts: a few headers, a small response body.
	body := []byte(`{"received":true,"id":"0123456789abcdef","note":"a typical small acknowledgement body"}`)
	sum := sha256.Sum256(body)
	now := time.Now()
	attempts := make([]domain.Attempt, b.N)
	for i := range attempts {
		a := testAttempt(endpoints[i%len(endpoints)], domain.OutcomeDelivered, now)
		a.Duration, a.StatusCode = 42*time.Millisecond, 200
		a.RequestHeaders = map[string]string{"Content-Type": "application/json", "Webhook-Id": a.DeliveryID, "Webhook-Signature": "v1,<redacted>"}
		a.ResponseHeaders = map[string]string{"Content-Type": "application/json"}
		a.ResponseBody, a.ResponseBodySHA256, a.ResponseBodySize = body, hex.EncodeToString(sum[:]), int64(len(body))
		attempts[i] = a
	}
	polls := slices.Collect(slices.Chunk(attempts, benchPoll))

	w := NewWriter(s, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The hour marker is written once per process; keep it out of the timing.
	if err := w.WriteAttempts(ctx, attempts[:1]); err != nil {
		b.Fatal(err)
	}

	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, len(polls))
		next      = make(chan []domain.Attempt, len(polls))
		firstErr  error
	)
	for _, p := range polls {
		next <- p
	}
	close(next)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchProducers {
		wg.Go(func() {
			for p := range next {
				t0 := time.Now()
				err := w.WriteAttempts(ctx, p)
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	slices.Sort(latencies)
	p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "attempts/s")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "p99-ms")
	st := w.Stats()
	if st.Batches > 0 {
		b.ReportMetric(float64(st.Statements)/float64(st.Batches), "stmts/batch")
	}
}

// benchWarmUp writes for a few seconds with the default settings.
func benchWarmUp(b *testing.B, s *Store, endpoints []string) {
	w := NewWriter(s, WriterOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deadline := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	for p := range benchProducers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				poll := make([]domain.Attempt, benchPoll)
				for j := range poll {
					poll[j] = testAttempt(endpoints[(p+i+j)%len(endpoints)], domain.OutcomeDelivered, time.Now())
				}
				if err := w.WriteAttempts(ctx, poll); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
