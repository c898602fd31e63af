package dispatch_test

import (
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
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
			b.ReportMetric(float64(want*endpoints)/took.Seconds(), "deliveries/s")
			b.ReportMetric(took.Seconds(), "drain-s")
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
