package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
)

func TestFilterMatch(t *testing.T) {
	a := &domain.Attempt{EndpointID: "ep_1", EventType: "order.item.added", Outcome: domain.OutcomeFailed, TenantID: "acme"}
	cases := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{EventType: "*"}, true},
		{Filter{EventType: "order.*"}, true},
		{Filter{EventType: "ORDER.*"}, true},
		{Filter{EventType: "order.item.*"}, true},
		{Filter{EventType: "order.item.added"}, true},
		{Filter{EventType: "order.item"}, false},
		{Filter{EventType: "order.item.added.*"}, false},
		{Filter{EventType: "user.*"}, false},
		{Filter{EndpointIDs: []string{"ep_0", "ep_1"}}, true},
		{Filter{EndpointIDs: []string{"ep_0"}}, false},
		{Filter{Outcome: "failed"}, true},
		{Filter{Outcome: "delivered"}, false},
		{Filter{TenantID: "acme"}, true},
		{Filter{TenantID: "other"}, false},
		{Filter{EndpointIDs: []string{"ep_1"}, EventType: "order.*", Outcome: "failed", TenantID: "acme"}, true},
		{Filter{EndpointIDs: []string{"ep_1"}, EventType: "order.*", Outcome: "failed", TenantID: "x"}, false},
	}
	for _, c := range cases {
		if got := c.f.Match(a); got != c.want {
			t.Errorf("%+v.Match = %v, want %v", c.f, got, c.want)
		}
	}
	for _, bad := range []Filter{{EventType: "order*"}, {EventType: "order..*"}, {Outcome: "nope"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: Validate accepted it", bad)
		}
	}
	if err := (Filter{EventType: "Order.*", Outcome: "timeout"}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func matching(f Filter, as []domain.Attempt) []domain.Attempt {
	var out []domain.Attempt
	for i := range as {
		if f.Match(&as[i]) {
			out = append(out, as[i])
		}
	}
	return out
}

func attempts(from, to int) []domain.Attempt {
	var out []domain.Attempt
	for i := from; i < to; i++ {
		out = append(out, attempt(i))
	}
	return out
}

// Two clients with different filters, connected at once, each get exactly
// the attempts their filter selects, in order, in the API's form.
func TestConcurrentClientsWithFilters(t *testing.T) {
	ctx := testContext(t)
	h := newHub(Options{})
	srv := newServer(t, h)
	c := api.NewClient(srv.URL, "")

	qa := api.ListQuery{EndpointID: "ep_b"}
	fa := Filter{EndpointIDs: []string{"ep_b"}}
	qb := api.ListQuery{EventType: "order.*", Outcome: "failed", TenantID: "acme"}
	fb := Filter{EventType: "order.*", Outcome: "failed", TenantID: "acme"}
	all := attempts(0, 200)
	wantA, wantB := matching(fa, all), matching(fb, all)
	if len(wantA) == 0 || len(wantB) == 0 || len(wantA) == len(all) || len(wantB) == len(wantA) {
		t.Fatalf("test data selects %d and %d of %d", len(wantA), len(wantB), len(all))
	}
	ra := follow(ctx, t, c, qa, "", len(wantA))
	rb := follow(ctx, t, c, qb, "", len(wantB))
	if n := h.Clients(); n != 2 {
		t.Fatalf("Clients() = %d, want 2", n)
	}
	for _, a := range all {
		h.Publish(a)
	}
	for _, tc := range []struct {
		res  streamResult
		want []domain.Attempt
	}{{wait(ctx, t, ra), wantA}, {wait(ctx, t, rb), wantB}} {
		if !errors.Is(tc.res.err, errEnough) {
			t.Fatalf("stream: %v", tc.res.err)
		}
		checkMessages(t, tc.res.msgs, tc.want)
	}
	eventually(ctx, t, "both clients are gone", func() bool { return h.Clients() == 0 })
}

// A client that stops reading is dropped with a final "dropped" event
// once its queue is full, while a client that keeps up gets every event
// and Publish goes on; the dropped client then resumes with its last id
// and gets exactly what it missed.
func TestSlowClientIsDropped(t *testing.T) {
	ctx := testContext(t)
	m := &countingMetrics{}
	h := newHub(Options{ClientBuffer: 4, History: 100000, Metrics: m})
	srv := newServer(t, h, smallSendBuffer)

	g := newGate()
	slow := follow(ctx, t, slowClient(srv.URL, g), api.ListQuery{}, "", 0)
	g.arm()

	// The fast client acknowledges each event, so the publisher can stay
	// within its tiny queue; the slow one, which reads nothing, cannot.
	acks := make(chan api.StreamMessage)
	fast := make(chan error, 1)
	connected := make(chan struct{})
	go func() {
		fast <- api.NewClient(srv.URL, "").Stream(ctx, api.ListQuery{}, "", func() { close(connected) }, func(m api.StreamMessage) error {
			select {
			case acks <- m:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	<-connected

	var published []domain.Attempt
	publish := func() {
		a := bigAttempt(len(published))
		published = append(published, a)
		h.Publish(a) // must return whatever the slow client does
		select {
		case m := <-acks:
			if m.Attempt.ID != a.ID {
				t.Fatalf("fast client got %s, want %s", m.Attempt.ID, a.ID)
			}
		case err := <-fast:
			t.Fatalf("fast client ended: %v", err)
		case <-ctx.Done():
			t.Fatalf("fast client did not get %s in time (stats %+v)", a.ID, h.Stats())
		}
	}
	for h.Stats().Dropped == 0 {
		if len(published) == 100000 {
			t.Fatal("the slow client was never dropped")
		}
		publish()
	}
	// Publishing and the fast client go on without it.
	for range 20 {
		publish()
	}
	if n := h.Clients(); n != 1 {
		t.Fatalf("Clients() = %d, want 1 (the fast one)", n)
	}
	if n := m.droppedFor(DropBehind); n != 1 {
		t.Errorf("%d clients dropped as behind, want 1", n)
	}
	t.Logf("slow client dropped after %d attempts", len(published))

	g.open()
	res := wait(ctx, t, slow)
	if !errors.Is(res.err, api.ErrStreamDropped) {
		t.Fatalf("slow client: got %v after %d events, want ErrStreamDropped", res.err, len(res.msgs))
	}
	if len(res.msgs) >= len(published) {
		t.Fatalf("slow client got all %d events", len(res.msgs))
	}
	checkMessages(t, res.msgs, published[:len(res.msgs)])

	last := ""
	if len(res.msgs) > 0 {
		last = res.msgs[len(res.msgs)-1].ID
	}
	missed := published[len(res.msgs):]
	again := follow(ctx, t, api.NewClient(srv.URL, ""), api.ListQuery{}, last, len(missed))
	r := wait(ctx, t, again)
	if !errors.Is(r.err, errEnough) {
		t.Fatalf("resume: %v", r.err)
	}
	checkMessages(t, r.msgs, missed)
	eventually(ctx, t, "only the fast client is left", func() bool { return m.clients.Load() == 1 })
	if n := m.droppedFor(DropStalled); n != 0 {
		t.Errorf("%d clients counted as stalled", n)
	}
}

// A client that resumes with Last-Event-ID (header or query parameter)
// gets exactly the matching attempts it missed, then live ones, with no
// duplicate.
func TestResumeReplaysMissedEvents(t *testing.T) {
	ctx := testContext(t)
	h := newHub(Options{})
	srv := newServer(t, h)
	c := api.NewClient(srv.URL, "")
	q := api.ListQuery{EventType: "order.*"}
	f := Filter{EventType: "order.*"}

	all := attempts(0, 60)
	first := matching(f, all[:30])
	r1 := follow(ctx, t, c, q, "", len(first))
	for _, a := range all[:30] {
		h.Publish(a)
	}
	res := wait(ctx, t, r1)
	checkMessages(t, res.msgs, first)
	// Resume from the middle of what the first client saw.
	k := len(first) / 2
	lastID := res.msgs[k-1].ID

	for _, a := range all[30:50] { // published while nobody listens
		h.Publish(a)
	}
	var want []domain.Attempt
	want = append(want, first[k:]...)
	want = append(want, matching(f, all[30:])...)

	r2 := follow(ctx, t, c, q, lastID, len(want))
	// The query parameter does the same, for clients without headers.
	viaParam := paramClient(srv.URL, lastID)
	r3 := follow(ctx, t, viaParam, q, "", len(want))
	for _, a := range all[50:] {
		h.Publish(a)
	}
	for _, r := range []streamResult{wait(ctx, t, r2), wait(ctx, t, r3)} {
		if !errors.Is(r.err, errEnough) {
			t.Fatalf("resume: %v", r.err)
		}
		checkMessages(t, r.msgs, want)
	}
}

// An id the hub does not know (another process, a restart, garbage) or
// one whose successors were evicted gives live events only, and a comment
// says so.
func TestResumeFromUnknownID(t *testing.T) {
	ctx := testContext(t)
	h := newHub(Options{History: 5})
	srv := newServer(t, h)
	c := api.NewClient(srv.URL, "")
	for i := range 10 {
		h.Publish(attempt(i))
	}
	other := newHub(Options{})
	cases := map[string]struct{ id, comment string }{
		"other hub":  {other.eventID(3), "unknown"},
		"garbage":    {"not-an-id\r\nevent: dropped", "unknown"},
		"future":     {h.eventID(1 << 40), "unknown"},
		"evicted":    {h.eventID(3), "no longer kept"},
		"no seq":     {h.epoch + "-", "unknown"},
		"not number": {h.epoch + "-x1", "unknown"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			headerID := strings.ReplaceAll(tc.id, "\r\n", "") // a header cannot hold line breaks
			lines := rawLines(ctx, t, srv.URL, headerID)
			if got := nextComment(ctx, t, lines); !strings.Contains(got, tc.comment) {
				t.Errorf("comment %q does not say %q", got, tc.comment)
			}
			// The query parameter carries line breaks; they must not
			// escape the comment.
			r := follow(ctx, t, paramClient(srv.URL, tc.id), api.ListQuery{}, "", 1)
			live := follow(ctx, t, c, api.ListQuery{}, headerID, 1)
			a := attempt(100)
			h.Publish(a)
			for _, res := range []streamResult{wait(ctx, t, live), wait(ctx, t, r)} {
				if !errors.Is(res.err, errEnough) {
					t.Fatalf("stream: %v", res.err)
				}
				checkMessages(t, res.msgs, []domain.Attempt{a})
			}
		})
	}
	// The id just before the oldest kept event still resumes: nothing
	// after it is missing.
	live := follow(ctx, t, c, api.ListQuery{}, h.eventID(h.seq-5), 5)
	res := wait(ctx, t, live)
	if !errors.Is(res.err, errEnough) || len(res.msgs) != 5 {
		t.Fatalf("resume at the ring's edge: %d events, %v", len(res.msgs), res.err)
	}
}

// paramClient sends lastID in the query parameter rather than the header.
func paramClient(base, lastID string) *api.Client {
	return &api.Client{BaseURL: base, HTTP: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		q := r.URL.Query()
		q.Set(ParamLastEventID, lastID)
		r.URL.RawQuery = q.Encode()
		return http.DefaultTransport.RoundTrip(r)
	})}}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Idle streams carry heartbeat comments, which clients skip.
func TestHeartbeat(t *testing.T) {
	ctx := testContext(t)
	h := newHub(Options{Heartbeat: 20 * time.Millisecond})
	srv := newServer(t, h)
	lines := rawLines(ctx, t, srv.URL, "")
	for range 3 {
		if got := nextComment(ctx, t, lines); got != ": ping" {
			t.Fatalf("comment %q, want \": ping\"", got)
		}
	}
	r := follow(ctx, t, api.NewClient(srv.URL, ""), api.ListQuery{}, "", 2)
	for range 2 { // the client's stream is as idle as this one
		_ = nextComment(ctx, t, lines)
	}
	h.Publish(attempt(1))
	for range 2 {
		_ = nextComment(ctx, t, lines)
	}
	h.Publish(attempt(2))
	res := wait(ctx, t, r)
	if !errors.Is(res.err, errEnough) {
		t.Fatal(res.err)
	}
	checkMessages(t, res.msgs, []domain.Attempt{attempt(1), attempt(2)})
}

// Server shutdown ends streams cleanly: through Hub.Close, registered with
// RegisterOnShutdown, or through the requests' base context.
func TestShutdownEndsStreams(t *testing.T) {
	ctx := testContext(t)
	t.Run("RegisterOnShutdown", func(t *testing.T) {
		h := newHub(Options{})
		srv := httptest.NewUnstartedServer(withNegroni(handler(h)))
		srv.Config.RegisterOnShutdown(h.Close)
		srv.Start()
		defer srv.Close()
		c := api.NewClient(srv.URL, "")
		r1, r2 := follow(ctx, t, c, api.ListQuery{}, "", 0), follow(ctx, t, c, api.ListQuery{EndpointID: "x"}, "", 0)
		h.Publish(attempt(0))
		// Shutdown waits for the handlers; it returns only because the
		// streams end. The deadline is a backstop, not a measure.
		if err := srv.Config.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		for _, r := range []streamResult{wait(ctx, t, r1), wait(ctx, t, r2)} {
			if !errors.Is(r.err, io.EOF) {
				t.Errorf("stream ended with %v, want io.EOF", r.err)
			}
		}
		if n := h.Clients(); n != 0 {
			t.Errorf("Clients() = %d after shutdown", n)
		}
		// A closed hub refuses new streams.
		rec := httptest.NewRecorder()
		h.Serve(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil), Filter{})
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), api.CodeUnavailable) {
			t.Errorf("after Close: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("BaseContext", func(t *testing.T) {
		h := newHub(Options{})
		base, cancel := context.WithCancel(ctx)
		srv := httptest.NewUnstartedServer(withNegroni(handler(h)))
		srv.Config.BaseContext = func(net.Listener) context.Context { return base }
		srv.Start()
		defer srv.Close()
		r := follow(ctx, t, api.NewClient(srv.URL, ""), api.ListQuery{}, "", 0)
		cancel()
		if res := wait(ctx, t, r); !errors.Is(res.err, io.EOF) {
			t.Errorf("stream ended with %v, want io.EOF", res.err)
		}
		eventually(ctx, t, "the client is gone", func() bool { return h.Clients() == 0 })
	})
	t.Run("client leaves", func(t *testing.T) {
		h := newHub(Options{})
		srv := newServer(t, h)
		cctx, cancel := context.WithCancel(ctx)
		r := follow(cctx, t, api.NewClient(srv.URL, ""), api.ListQuery{}, "", 0)
		cancel()
		if res := wait(ctx, t, r); !errors.Is(res.err, context.Canceled) {
			t.Errorf("stream ended with %v", res.err)
		}
		eventually(ctx, t, "the client is gone", func() bool { return h.Clients() == 0 })
	})
}

// The server's ReadTimeout and WriteTimeout do not end a stream: Serve
// extends the write deadline at each write, and net/http lifts the read
// deadline once a request without a body has been read.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	ctx := testContext(t)
	h := newHub(Options{Heartbeat: 50 * time.Millisecond})
	srv := newServer(t, h, func(s *httptest.Server) {
		s.Config.ReadTimeout = 200 * time.Millisecond
		s.Config.WriteTimeout = 200 * time.Millisecond
	})
	r := follow(ctx, t, api.NewClient(srv.URL, ""), api.ListQuery{}, "", 4)
	var want []domain.Attempt
	for i := range 4 {
		// Spread over several times both timeouts.
		time.Sleep(300 * time.Millisecond)
		want = append(want, attempt(i))
		h.Publish(attempt(i))
	}
	res := wait(ctx, t, r)
	if !errors.Is(res.err, errEnough) {
		t.Fatalf("stream: %v", res.err)
	}
	checkMessages(t, res.msgs, want)
}

// A client that stops reading while its queue still has room is cut off
// by the write timeout.
func TestStalledClientIsCutOff(t *testing.T) {
	ctx := testContext(t)
	m := &countingMetrics{}
	h := newHub(Options{ClientBuffer: 1 << 20, WriteTimeout: 200 * time.Millisecond, Metrics: m})
	srv := newServer(t, h, smallSendBuffer)
	g := newGate()
	defer g.open()
	r := follow(ctx, t, slowClient(srv.URL, g), api.ListQuery{}, "", 0)
	g.arm()
	for i := 0; h.Clients() > 0; i++ {
		h.Publish(bigAttempt(i))
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond) // let the writer block
		}
		if ctx.Err() != nil {
			t.Fatalf("the stalled client was not cut off (stats %+v)", h.Stats())
		}
	}
	if s := h.Stats(); s.Dropped != 1 || m.droppedFor(DropStalled) != 1 || m.clients.Load() != 0 {
		t.Errorf("stats %+v, metrics %v, %d clients; want one dropped as stalled", s, m.dropped, m.clients.Load())
	}
	g.open()
	if res := wait(ctx, t, r); errors.Is(res.err, api.ErrStreamDropped) || res.err == nil {
		t.Errorf("a cut-off client ended with %v", res.err)
	}
}

// A ResponseWriter that cannot flush gets an error, not a stream that
// never arrives.
func TestServeNeedsFlusher(t *testing.T) {
	h := newHub(Options{})
	rec := httptest.NewRecorder()
	h.Serve(struct{ http.ResponseWriter }{rec}, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil), Filter{})
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d", rec.Code)
	}
	if h.Clients() != 0 {
		t.Error("client left registered")
	}
}

// With IdleKeep, attempts are not decoded while nobody follows the
// stream, and are again once a client connects.
func TestFeedSkipsWhileUnfollowed(t *testing.T) {
	h := NewHub(Options{IdleKeep: time.Hour})
	if h.followed() {
		t.Fatal("followed before any client")
	}
	c := &client{filter: Filter{}.normalized(), ch: make(chan *entry, 1), dropped: make(chan struct{})}
	if _, _, ok := h.subscribe(c, ""); !ok {
		t.Fatal("subscribe refused")
	}
	if !h.followed() {
		t.Fatal("not followed with a client")
	}
	h.unsubscribe(c)
	if !h.followed() {
		t.Fatal("not followed right after the client left")
	}
	if !NewHub(Options{}).followed() {
		t.Fatal("IdleKeep 0 must always decode")
	}
}
