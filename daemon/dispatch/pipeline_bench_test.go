package dispatch_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/metrics"
)

// BenchmarkPipeline measures end-to-end delivery through the real Kafka
// and PostgreSQL: events published in one go, fanned out to loopback
// endpoints, each delivery signed, sent and its attempt record produced
// with acks=all. It reports deliveries per second and the time to drain.
//
//	go test -bench Pipeline -run '^$' -benchtime 1x ./daemon/dispatch/
func BenchmarkPipeline(b *testing.B) {
	for _, endpoints := range []int{10, 100} {
		b.Run(itoa(endpoints)+"-endpoints", func(b *testing.B) {
			const events = 2000
			p := newPipeline(b)
			p.metrics = metrics.New()
			var recvs []*receiver
			for range endpoints {
				rc := newReceiver(b, nil)
				p.endpoint(rc.URL, func(e *domain.Endpoint) { e.MaxConcurrency = 64 })
				recvs = append(recvs, rc)
			}
			p.start(10 * time.Second)
			evts := make([]domain.Event, events)
			for i := range evts {
				evts[i] = event("order.created", i)
			}
			b.ResetTimer()
			start := time.Now()
			cpu0 := processCPU()
			for range b.N {
				p.publish(evts...)
			}
			want := events * b.N
			waitFor(b, 5*time.Minute, "every delivery", func() bool {
				for _, rc := range recvs {
					if len(rc.delivered()) < want {
						return false
					}
				}
				return true
			})
			took := time.Since(start)
			// An upper bound of the dispatcher's CPU per delivery: the
			// process also runs the receivers and the test's producer.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(want*endpoints), "cpu-µs/delivery")
			b.ReportMetric(float64(want*endpoints)/took.Seconds(), "deliveries/s")
			b.ReportMetric(took.Seconds(), "drain-s")
			b.ReportMetric(counterSum(b, p.metrics, "hookd_deferred_total")/float64(want*endpoints), "deferred/delivery")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// BenchmarkPipelineLatency publishes at a steady rate (an open model: the
// rate does not slow down when hookd does) and reports the publish→receive
// latency of every delivery, from the event's own timestamp to its arrival
// at the endpoint.
//
//	go test -bench PipelineLatency -run '^$' -benchtime 1x ./daemon/dispatch/
func BenchmarkPipelineLatency(b *testing.B) {
	const (
		endpoints = 10
		perSecond = 300 // events; ×10 endpoints = 3000 deliveries/s, about half the measured maximum
		duration  = 10 * time.Second
	)
	p := newPipeline(b)
	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	for range endpoints {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived := time.Now()
			var body struct {
				Timestamp time.Time `json:"timestamp"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err == nil {
				mu.Lock()
				latencies = append(latencies, arrived.Sub(body.Timestamp))
				mu.Unlock()
			}
		}))
		b.Cleanup(srv.Close)
		p.endpoint(srv.URL, func(e *domain.Endpoint) { e.MaxConcurrency = 64 })
	}
	p.start(10 * time.Second)
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for start := time.Now(); time.Since(start) < duration; {
		<-tick.C
		batch := make([]domain.Event, perSecond/100)
		for i := range batch {
			batch[i] = event("order.created", sent)
			batch[i].Time = time.Now().UTC()
			sent++
		}
		p.publish(batch...)
	}
	want := sent * endpoints
	waitFor(b, 2*time.Minute, "every delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(latencies) >= want
	})
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(latencies)
	at := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(0.999), "p99.9-ms")
	b.ReportMetric(float64(len(latencies))/duration.Seconds(), "deliveries/s")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// counterSum adds up every series of a counter.
func counterSum(b *testing.B, m *metrics.Metrics, name string) float64 {
	mfs, err := m.Registry().Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			sum += s.GetCounter().GetValue()
		}
	}
	return sum
}
