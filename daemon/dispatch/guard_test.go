package dispatch_test

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// Endpoints that resolve to loopback, private or metadata addresses are
// never reached: the attempt is recorded as blocked and the delivery dead-
// lettered, and a listener on loopback sees no connection at all.
func TestDeliveriesToInternalAddressesAreBlocked(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	var lc net.ListenConfig
	canary, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer canary.Close()
	var connections atomic.Int64
	go func() {
		for {
			c, err := canary.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			c.Close()
		}
	}()
	_, port, err := net.SplitHostPort(canary.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{
		"http://127.0.0.1:" + port + "/hook",
		"http://localhost:" + port + "/hook",
		"http://[::ffff:127.0.0.1]:" + port + "/hook",
		"http://10.0.0.1/hook",
		"http://169.254.169.254/latest/meta-data/",
	}
	for _, u := range urls {
		p.endpoint(u, nil)
	}
	p.startAllowing(2*time.Second, nil)
	p.publish(event("order.created", 1))

	attempts, dead := p.records(60*time.Second, func(a []domain.Attempt, d []domain.DeadLetter) bool { return len(d) >= len(urls) })
	for _, a := range attempts {
		if a.Outcome != domain.OutcomeBlocked {
			t.Fatalf("attempt to %s: outcome %s, want blocked", a.EndpointID, a.Outcome)
		}
	}
	for _, d := range dead {
		if d.Reason != domain.ReasonBlocked {
			t.Fatalf("dead letter %+v, want reason blocked", d)
		}
	}
	if n := connections.Load(); n != 0 {
		t.Fatalf("the loopback canary accepted %d connections", n)
	}
}

// A Retry-After header pushes the next attempt back (up to twice the
// scheduled delay).
func TestRetryAfterIsHonored(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	var first atomic.Int64
	var gap atomic.Int64
	rc := newReceiver(t, func(n int64, r *http.Request) int {
		now := time.Now().UnixNano()
		if n == 1 {
			first.Store(now)
			return http.StatusTooManyRequests
		}
		gap.CompareAndSwap(0, now-first.Load())
		return http.StatusOK
	})
	// The 429 carries Retry-After: 30 (see newReceiver); the schedule says
	// 1s; the delay is clamped to twice the (jittered) schedule: at least
	// 1.6 s, where without the header it would be at most 1.2 s.
	p.endpoint(rc.URL, func(e *domain.Endpoint) {
		e.RetryPolicy = domain.RetryPolicy{Schedule: []time.Duration{time.Second, time.Second}}
	})
	p.start(5 * time.Second)
	p.publish(event("order.created", 1))
	waitFor(t, 60*time.Second, "the retry to deliver", func() bool { return len(rc.delivered()) == 1 })
	if g := time.Duration(gap.Load()); g < 1500*time.Millisecond {
		t.Fatalf("second attempt %s after the first: Retry-After was not honored", g)
	}
}
