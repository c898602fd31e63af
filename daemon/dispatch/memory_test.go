package dispatch_test

import (
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// A backlog much larger than the in-flight bound, for an endpoint that
// hangs, is worked through with a bounded number of goroutines: work the
// endpoint cannot take moves to the retry tiers (Kafka), not to memory.
func TestBacklogKeepsWorkBounded(t *testing.T) {
	p := newPipeline(t)
	hang := newReceiver(t, func(int64, *http.Request) int { return 0 })
	ok := newReceiver(t, nil)
	p.endpoint(hang.URL, func(e *domain.Endpoint) { e.MaxConcurrency = 4 })
	p.endpoint(ok.URL, nil)
	const (
		backlog     = 3000
		maxInFlight = 50
	)
	evts := make([]domain.Event, backlog)
	for i := range evts {
		evts[i] = event("order.created", i)
	}
	p.publish(evts...) // all waiting before the dispatcher starts
	p.maxInFlight = maxInFlight
	base := runtime.NumGoroutine()
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if n := int64(runtime.NumGoroutine()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	p.start(30 * time.Second)
	waitFor(t, 3*time.Minute, "the healthy endpoint to get the whole backlog", func() bool { return len(ok.delivered()) == backlog })
	close(stop)
	// Per message in flight: its handler, one goroutine per endpoint
	// delivery, and the HTTP client's connection goroutines.
	if grown := peak.Load() - int64(base); grown > 10*maxInFlight {
		t.Fatalf("goroutines grew by %d for a backlog of %d with %d messages in flight", grown, backlog, maxInFlight)
	}
	t.Logf("goroutines: %d at start, peak %d, for %d events with at most %d in flight", base, peak.Load(), backlog, maxInFlight)
}
