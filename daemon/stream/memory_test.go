package stream

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/hookd/hookd/internal/api"
)

// Publishing 100k attempts with a slow client connected keeps at most the
// ring plus one client queue (and the event being written) in memory. The
// measure is the number of entries still reachable, counted with cleanups
// that run when the garbage collector frees them.
func TestMemoryBounded(t *testing.T) {
	ctx := testContext(t)
	const (
		history = 1000
		buffer  = 256
		total   = 100_000
	)
	var made, live atomic.Int64
	trackEntry = func(e *entry) {
		made.Add(1)
		live.Add(1)
		runtime.AddCleanup(e, func(*atomic.Int64) { live.Add(-1) }, &live)
	}
	t.Cleanup(func() { trackEntry = nil })

	h := newHub(Options{History: history, ClientBuffer: buffer})
	srv := newServer(t, h, smallSendBuffer)
	g := newGate()
	defer g.open()
	slow := follow(ctx, t, slowClient(srv.URL, g), api.ListQuery{}, "", 0)
	g.arm()
	// A client that keeps up but whose filter matches almost nothing stays
	// connected throughout, so its queue counts too.
	picky := follow(ctx, t, api.NewClient(srv.URL, ""), api.ListQuery{EndpointID: "none"}, "", 0)

	for i := range total {
		h.Publish(bigAttempt(i))
		if i%10_000 == 0 {
			if s := h.Stats(); s.History > history || s.Queued > 2*buffer {
				t.Fatalf("after %d: stats %+v", i, s)
			}
		}
	}
	s := h.Stats()
	if s.Published != total || s.History != history || s.Dropped != 1 || s.Clients != 1 {
		t.Errorf("stats %+v: want %d published, %d kept, the slow client dropped, the picky one connected", s, total, history)
	}

	// Reachable: the ring, the slow client's queue, and the one entry its
	// request goroutine is blocked writing.
	bound := int64(history + buffer + 1)
	eventually(ctx, t, "unreachable entries are freed", func() bool {
		runtime.GC()
		return live.Load() <= bound
	})
	t.Logf("%d entries made, %d reachable (bound %d)", made.Load(), live.Load(), bound)

	g.open()
	if r := wait(ctx, t, slow); r.err != api.ErrStreamDropped { //nolint:errorlint // the sentinel itself
		t.Errorf("slow client: %v", r.err)
	}
	h.Close()
	if r := wait(ctx, t, picky); len(r.msgs) != 0 {
		t.Errorf("picky client got %d events", len(r.msgs))
	}
}
