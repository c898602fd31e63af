package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/negroni/v3"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
)

// testDeadline bounds each test; it is generous on purpose: it catches a
// hang, it does not measure speed.
const testDeadline = 60 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

var (
	endpoints = []string{"ep_a", "ep_b", "ep_c"}
	types     = []string{"order.created", "order.item.added", "user.signup"}
	outcomes  = []domain.Outcome{domain.OutcomeDelivered, domain.OutcomeFailed, domain.OutcomeTimeout}
	tenants   = []string{"", "acme"}
)

// attempt returns the i-th test attempt; its fields cycle through the
// values above at different rates, so filters select varied subsets.
func attempt(i int) domain.Attempt {
	next := time.Date(2025, 3, 1, 12, 0, i, 0, time.UTC)
	a := domain.Attempt{
		ID:              fmt.Sprintf("att_%d", i),
		DeliveryID:      fmt.Sprintf("dlv_%d", i),
		EventID:         fmt.Sprintf("evt_%d", i),
		EventType:       types[i%len(types)],
		EndpointID:      endpoints[(i/2)%len(endpoints)],
		TenantID:        tenants[(i/3)%len(tenants)],
		Generation:      0,
		AttemptNumber:   1 + i%3,
		StartedAt:       time.Date(2025, 3, 1, 12, 0, 0, i*1000, time.UTC),
		Duration:        time.Duration(i) * time.Millisecond,
		StatusCode:      200 + i%3*100,
		Outcome:         outcomes[i%len(outcomes)],
		RequestHeaders:  map[string]string{"webhook-id": fmt.Sprintf("msg_%d", i)},
		ResponseHeaders: map[string]string{"content-type": "text/plain"},
		ResponseBody:    []byte("ok <&> \n line two"),
	}
	if a.Outcome != domain.OutcomeDelivered {
		a.Error = "status 500"
		a.NextRetryAt = &next
	}
	return a
}

// bigAttempt carries a response body preview of the size the dispatcher
// keeps at most, to fill socket buffers quickly.
func bigAttempt(i int) domain.Attempt {
	a := attempt(i)
	a.ResponseBody = []byte(strings.Repeat("x", 4096))
	return a
}

// wire is what a client should receive for a: the API form after a JSON
// round trip, as Client.Stream decodes it.
func wire(t testing.TB, a domain.Attempt) api.Attempt {
	t.Helper()
	b, err := json.Marshal(api.AttemptFromDomain(a))
	if err != nil {
		t.Fatal(err)
	}
	var out api.Attempt
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// handler parses the stream filter from the query as daemon/api does, so
// the tests can use api.Client.Stream as it is.
func handler(h *Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := Filter{EndpointIDs: q[api.ParamEndpoint], EventType: q.Get(api.ParamEventType), Outcome: q.Get(api.ParamOutcome), TenantID: q.Get(api.ParamTenant)}
		if err := f.Validate(); err != nil {
			writeError(w, http.StatusBadRequest, api.CodeInvalidRequest, err.Error())
			return
		}
		h.Serve(w, r, f)
	})
}

// withNegroni wraps next as the API server does, so that flushing and
// deadlines are tested through negroni's ResponseWriter.
func withNegroni(next http.Handler) http.Handler {
	n := negroni.New(negroni.HandlerFunc(func(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
		if _, ok := w.(negroni.ResponseWriter); !ok {
			panic("not a negroni ResponseWriter")
		}
		next(w, r)
	}))
	n.UseHandler(next)
	return n
}

type serverOption func(*httptest.Server)

// smallSendBuffer makes the server's socket buffers tiny, so that a client
// that does not read blocks the server's writes after a few KiB rather
// than after the megabytes loopback sockets grow to.
func smallSendBuffer(s *httptest.Server) {
	s.Listener = smallBufListener{s.Listener}
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func newServer(t *testing.T, h *Hub, opts ...serverOption) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(withNegroni(handler(h)))
	for _, o := range opts {
		o(s)
	}
	s.Start()
	t.Cleanup(func() {
		h.Close() // streams would keep Close waiting
		s.Close()
	})
	return s
}

// streamResult is what one Client.Stream call saw.
type streamResult struct {
	msgs []api.StreamMessage
	err  error
}

// follow runs Client.Stream in the background and returns once the
// server has accepted the stream. It stops after n messages (n <= 0: only
// when the stream or ctx ends).
func follow(ctx context.Context, t *testing.T, c *api.Client, q api.ListQuery, lastID string, n int) <-chan streamResult {
	t.Helper()
	connected := make(chan struct{})
	out := make(chan streamResult, 1)
	go func() {
		var res streamResult
		res.err = c.Stream(ctx, q, lastID, func() { close(connected) }, func(m api.StreamMessage) error {
			res.msgs = append(res.msgs, m)
			if n > 0 && len(res.msgs) == n {
				return errEnough
			}
			return nil
		})
		out <- res
	}()
	select {
	case <-connected:
	case res := <-out:
		t.Fatalf("stream did not connect: %v", res.err)
	case <-ctx.Done():
		t.Fatal("stream did not connect in time")
	}
	return out
}

var errEnough = errors.New("enough")

func wait(ctx context.Context, t *testing.T, ch <-chan streamResult) streamResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatal("stream did not end in time")
		return streamResult{}
	}
}

// eventually polls cond until it holds or ctx ends. It waits for a state,
// never for a duration.
func eventually(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// checkMessages compares what a client received with the attempts it
// should have received, in order, and checks that ids increase.
func checkMessages(t *testing.T, got []api.StreamMessage, want []domain.Attempt) {
	t.Helper()
	if len(got) != len(want) {
		ids := make([]string, len(got))
		for i, m := range got {
			ids[i] = m.Attempt.ID
		}
		t.Fatalf("got %d events %v, want %d", len(got), ids, len(want))
	}
	var prev uint64
	for i, m := range got {
		if m.Event != api.StreamEventAttempt {
			t.Errorf("event %d: type %q", i, m.Event)
		}
		if w := wire(t, want[i]); !reflect.DeepEqual(m.Attempt, w) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, m.Attempt, w)
		}
		_, s, _ := strings.Cut(m.ID, "-")
		var seq uint64
		if _, err := fmt.Sscan(s, &seq); err != nil || seq <= prev {
			t.Fatalf("event %d: id %q does not follow %d", i, m.ID, prev)
		}
		prev = seq
	}
}

// gate holds back a client's reads until it is opened, to play a client
// that stops reading.
type gate struct {
	once sync.Once
	ch   chan struct{}
	// armed: reads pass until the stream is connected, then wait.
	mu    sync.Mutex
	armed bool
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) arm() { g.mu.Lock(); g.armed = true; g.mu.Unlock() }

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func (g *gate) wait() {
	g.mu.Lock()
	armed := g.armed
	g.mu.Unlock()
	if armed {
		<-g.ch
	}
}

type gatedConn struct {
	net.Conn
	g *gate
}

func (c gatedConn) Read(p []byte) (int, error) {
	c.g.wait()
	return c.Conn.Read(p)
}

// slowClient returns an API client whose connection stops reading once
// g is armed, with a small receive buffer so the server feels it soon.
func slowClient(url string, g *gate) *api.Client {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return gatedConn{c, g}, nil
		},
		ReadBufferSize: 4096,
	}
	return &api.Client{BaseURL: url, HTTP: &http.Client{Transport: tr}}
}

// rawLines reads a stream's raw lines (comments included), which
// Client.Stream hides, sending each on the returned channel.
func rawLines(ctx context.Context, t *testing.T, url, lastID string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // the reader goroutine closes it
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		t.Fatalf("status %s", resp.Status)
	}
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}

// nextComment returns the next comment line of lines.
func nextComment(ctx context.Context, t *testing.T, lines <-chan string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended before a comment")
			}
			if strings.HasPrefix(l, ":") {
				return l
			}
		case <-ctx.Done():
			t.Fatal("no comment in time")
		}
	}
}

// quiet logs nowhere: the tests check what is logged about through Stats
// and Metrics.
var quiet = slog.New(slog.DiscardHandler)

func newHub(o Options) *Hub {
	o.Logger = quiet
	return NewHub(o)
}

// countingMetrics records what the hub reports.
type countingMetrics struct {
	clients atomic.Int64
	mu      sync.Mutex
	dropped map[string]int
}

func (m *countingMetrics) StreamClientsInc() { m.clients.Add(1) }
func (m *countingMetrics) StreamClientsDec() { m.clients.Add(-1) }
func (m *countingMetrics) StreamDropped(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dropped == nil {
		m.dropped = map[string]int{}
	}
	m.dropped[reason]++
}

func (m *countingMetrics) droppedFor(reason string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped[reason]
}
