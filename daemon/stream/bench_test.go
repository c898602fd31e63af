package stream

import (
	"fmt"
	"testing"

	"github.com/hookd/hookd/internal/domain"
)

// BenchmarkPublish measures Publish with n connected clients that all
// match every attempt. The clients are in-process queues that the
// benchmark empties with the timer stopped: writing to a client is paid in
// that client's request goroutine, never in Publish, so what is measured
// is the lock, the ring and the n non-blocking sends. (Drained by
// goroutines instead, the queues of a publisher running flat out on two
// CPUs fill before the scheduler runs the readers, which measures the
// scheduler rather than the hub.)
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			h := newHub(Options{})
			clients := make([]*client, n)
			for i := range clients {
				clients[i] = &client{ch: make(chan *entry, DefaultClientBuffer), dropped: make(chan struct{})}
				if _, _, ok := h.subscribe(clients[i], ""); !ok {
					b.Fatal("subscribe")
				}
			}
			as := make([]domain.Attempt, 1024)
			for i := range as {
				as[i] = attempt(i)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.Publish(as[i%len(as)])
				if i%(DefaultClientBuffer/2) == 0 && n > 0 {
					b.StopTimer()
					for _, c := range clients {
						for len(c.ch) > 0 {
							<-c.ch
						}
					}
					b.StartTimer()
				}
			}
			if s := h.Stats(); s.Dropped > 0 || s.Clients != n {
				b.Fatalf("stats %+v", s)
			}
		})
	}
}

// BenchmarkEncode is the one-off cost of an attempt's frame, paid by the
// first client that needs it, in its own goroutine.
func BenchmarkEncode(b *testing.B) {
	h := newHub(Options{})
	a := attempt(1)
	b.ReportAllocs()
	for b.Loop() {
		h.frameOf(&entry{seq: 1, a: a})
	}
}
