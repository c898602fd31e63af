package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/tui"
)

func tailAttempt(id string, at time.Time) api.Attempt {
	return api.Attempt{
		ID: id, DeliveryID: "dlv_" + id, EventID: "evt_" + id, EventType: "order.created", EndpointID: "ep_1",
		Generation: 1, Attempt: 1, StartedAt: at, Duration: api.Duration(42 * time.Millisecond), StatusCode: 200, Outcome: "delivered",
	}
}

// sseFrame writes one Server-Sent Event by hand, as hookd frames them.
func sseFrame(t *testing.T, w http.ResponseWriter, id, event string, data any) {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
	flush(w)
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": ping\n\n")
	flush(w)
}

// jsonLines decodes stdout, one attempt a line.
func jsonLines(t *testing.T, stdout string) []api.Attempt {
	t.Helper()
	var out []api.Attempt
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var a api.Attempt
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

func attemptIDs(as []api.Attempt) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.ID
	}
	return strings.Join(s, " ")
}

func TestTailJSONLinesResumesAfterDrop(t *testing.T) {
	fake := newFakeAPI(t)
	now := time.Now().UTC()
	var mu sync.Mutex
	var lastIDs []string
	fake.handleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		conn := len(lastIDs)
		mu.Unlock()
		startSSE(w)
		switch conn {
		case 1:
			sseFrame(t, w, "e1", "attempt", tailAttempt("att_1", now))
			sseFrame(t, w, "e2", "", tailAttempt("att_2", now)) // no event name: an attempt too
			fmt.Fprint(w, ": ping\n\n")
			sseFrame(t, w, "", "dropped", map[string]string{"reason": "behind"})
		case 2:
			sseFrame(t, w, "e3", "attempt", tailAttempt("att_3", now))
			// The server ends this one: the client comes back after a pause.
		default:
			sseFrame(t, w, "e4", "attempt", tailAttempt("att_4", now))
			sseFrame(t, w, "e5", "attempt", tailAttempt("att_5", now))
			<-r.Context().Done()
		}
	})

	r := hookctl(t, fake, []string{"tail", "--count", "4", "--endpoint", "ep_1", "--endpoint", "ep_2", "--outcome", "delivered", "--event-type", "Order.*"}, fastTail)
	r.wantCode(t, cmdutil.ExitOK)
	got := jsonLines(t, r.stdout)
	if attemptIDs(got) != "att_1 att_2 att_3 att_4" {
		t.Fatalf("attempts %q, want att_1..att_4 and no more (--count 4)\nstdout:\n%s", attemptIDs(got), r.stdout)
	}
	if got[0].DeliveryID != "dlv_att_1" || got[0].StatusCode != 200 || time.Duration(got[0].Duration) != 42*time.Millisecond {
		t.Errorf("first line %+v", got[0])
	}
	mu.Lock()
	if strings.Join(lastIDs, ",") != ",e2,e3" {
		t.Errorf("Last-Event-ID of the connections %q, want none, e2, e3", lastIDs)
	}
	mu.Unlock()
	wantContains(t, "stderr", r.stderr, "stream interrupted (the server dropped the stream", "reconnected")
	q, _ := url.ParseQuery(fake.requests()[0].Query)
	if e := q["endpoint"]; len(e) != 2 || e[0] != "ep_1" || e[1] != "ep_2" {
		t.Errorf("endpoints %q", e)
	}
	if q.Get("event_type") != "order.*" || q.Get("outcome") != "delivered" {
		t.Errorf("query %q", fake.requests()[0].Query)
	}
}

func TestTailSinceReadsHistoryFirst(t *testing.T) {
	fake := newFakeAPI(t)
	now := time.Now().UTC()
	h := func(i int) api.Attempt {
		return tailAttempt(fmt.Sprintf("att_h%d", i), now.Add(-time.Duration(10-i)*time.Minute))
	}
	var mu sync.Mutex
	var lists []url.Values
	fake.handleFunc("GET /v1/attempts", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lists = append(lists, r.URL.Query())
		mu.Unlock()
		// Newest first, two pages.
		if r.URL.Query().Get("cursor") == "" {
			writeJSONResponse(w, 200, api.Page[api.Attempt]{Items: []api.Attempt{h(3), h(2)}, NextCursor: "c2"})
			return
		}
		writeJSONResponse(w, 200, api.Page[api.Attempt]{Items: []api.Attempt{h(1)}})
	})
	fake.handleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		// The newest attempt of the history, seen live too: shown once.
		sseFrame(t, w, "e1", "attempt", h(3))
		sseFrame(t, w, "e2", "attempt", tailAttempt("att_live", now))
		<-r.Context().Done()
	})

	r := hookctl(t, fake, []string{"tail", "--since", "15m", "--count", "4", "--event-type", "order.*", "-o", "jsonl"})
	r.wantCode(t, cmdutil.ExitOK)
	if got := attemptIDs(jsonLines(t, r.stdout)); got != "att_h1 att_h2 att_h3 att_live" {
		t.Fatalf("attempts %q, want the history oldest first, then live without the duplicate", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lists) != 2 || lists[1].Get("cursor") != "c2" {
		t.Fatalf("lists %v", lists)
	}
	since, err := time.Parse(time.RFC3339Nano, lists[0].Get("since"))
	if err != nil || time.Since(since) < 14*time.Minute || time.Since(since) > 16*time.Minute {
		t.Errorf("since %q", lists[0].Get("since"))
	}
	// The list takes exact types only: a pattern is matched client side.
	if lists[0].Has("event_type") {
		t.Errorf("list query %v sent the pattern", lists[0])
	}
}

func TestTailErrors(t *testing.T) {
	t.Run("refused key is not retried", func(t *testing.T) {
		fake := newFakeAPI(t)
		fake.handle("GET /v1/stream", http.StatusUnauthorized, api.ErrorBody{Error: api.Error{Code: "unauthorized", Message: "invalid API key"}})
		r := hookctl(t, fake, []string{"tail", "-o", "jsonl"})
		r.wantCode(t, cmdutil.ExitFailure)
		wantContains(t, "stderr", r.stderr, "error: invalid API key", "hint: the server refused the API key")
		if n := len(fake.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("server never reached", func(t *testing.T) {
		r := hookctl(t, nil, []string{"tail"})
		r.wantCode(t, cmdutil.ExitFailure)
		wantContains(t, "stderr", r.stderr, "cannot reach hookd at http://127.0.0.1:1", "Is hookd running there?")
	})
	t.Run("unavailable is retried", func(t *testing.T) {
		fake := newFakeAPI(t)
		var mu sync.Mutex
		n := 0
		fake.handleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			first := n == 1
			mu.Unlock()
			if first {
				writeJSONResponse(w, http.StatusServiceUnavailable, api.ErrorBody{Error: api.Error{Code: "unavailable", Message: "shutting down"}})
				return
			}
			startSSE(w)
			sseFrame(t, w, "e1", "attempt", tailAttempt("att_1", time.Now()))
			<-r.Context().Done()
		})
		r := hookctl(t, fake, []string{"tail", "--count", "1"}, fastTail)
		r.wantCode(t, cmdutil.ExitOK)
		wantContains(t, "stderr", r.stderr, "stream interrupted (HTTP 503: shutting down)", "(attempt 1)")
		if got := attemptIDs(jsonLines(t, r.stdout)); got != "att_1" {
			t.Errorf("attempts %q", got)
		}
	})
	t.Run("interrupt exits quietly", func(t *testing.T) {
		fake := newFakeAPI(t)
		fake.handleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			<-r.Context().Done()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		r := hookctlCtx(t, ctx, fake, []string{"tail"})
		r.wantCode(t, cmdutil.ExitOK)
		if r.stderr != "" || r.stdout != "" {
			t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
		}
	})
}

func TestTailUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		opts []runOpt
	}{
		{[]string{"tail", "--outcome", "great"}, `invalid value "great" for --outcome`, nil},
		{[]string{"tail", "--event-type", "order*"}, `invalid value "order*" for --event-type`, nil},
		{[]string{"tail", "--count", "-1"}, "--count must not be negative", nil},
		{[]string{"tail", "-o", "yaml"}, `invalid value "yaml" for --output: want tui or jsonl`, nil},
		{[]string{"tail", "-o", "tui"}, "-o tui needs a terminal", nil},
		{[]string{"tail", "-o", "tui", "--count", "3"}, "--count prints JSON lines", []runOpt{tty}},
		{[]string{"tail", "--since", "yesterday"}, `--since "yesterday" is not RFC 3339`, nil},
		{[]string{"tail", "--endpoint", " "}, "--endpoint must not be empty", nil},
		{[]string{"tail", "extra"}, "", nil},
	} {
		r := hookctl(t, nil, tc.args, tc.opts...)
		r.wantCode(t, cmdutil.ExitUsage)
		wantContains(t, "stderr of "+strings.Join(tc.args, " "), r.stderr, tc.want)
	}
}

func TestTailOutputMode(t *testing.T) {
	var got *TailOptions
	capture := func(o *TailOptions) error { got = o; return nil }
	for _, tc := range []struct {
		args []string
		tty  bool
		want string
	}{
		{[]string{}, true, tailTUI},
		{[]string{}, false, tailJSONL},
		{[]string{"-o", "jsonl"}, true, tailJSONL},
		{[]string{"--count", "2"}, true, tailJSONL},
	} {
		ios, _, _, _ := iostreams.Test()
		ios.SetTTY(tc.tty)
		cmd := NewCmdTail(&Factory{IOStreams: ios}, capture)
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got.Output != tc.want {
			t.Errorf("%v (tty %v): output %q, want %q", tc.args, tc.tty, got.Output, tc.want)
		}
	}
}

// fastTail reconnects without a pause.
func fastTail(c *runConfig) {
	c.swap = func(f *Factory, root *cobra.Command) {
		old, _, _ := root.Find([]string{"tail"})
		root.RemoveCommand(old)
		root.AddCommand(NewCmdTail(f, func(o *TailOptions) error {
			o.backoff = func(int) time.Duration { return 10 * time.Millisecond }
			return runTail(o)
		}))
	}
}

// scriptedStream plays one func per connection.
type scriptedStream struct {
	mu    sync.Mutex
	conns []func(connected func(), fn func(api.StreamMessage) error) error
	n     int
	lists []api.ListQuery
	pages map[string][]api.Attempt // by endpoint
}

func (s *scriptedStream) StreamEndpoints(ctx context.Context, _ api.ListQuery, _ []string, _ string, connected func(), fn func(api.StreamMessage) error) error {
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	if i >= len(s.conns) {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.conns[i](connected, fn)
}

func (s *scriptedStream) ListAttempts(_ context.Context, q api.ListQuery) (api.Page[api.Attempt], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists = append(s.lists, q)
	return api.Page[api.Attempt]{Items: s.pages[q.EndpointID]}, nil
}

func TestFollowerBacksOffAndMergesHistory(t *testing.T) {
	now := time.Now().UTC()
	at := func(id string, ep, typ string, ago time.Duration) api.Attempt {
		a := tailAttempt(id, now.Add(-ago))
		a.EndpointID, a.EventType = ep, typ
		return a
	}
	unavailable := &api.Error{Status: http.StatusServiceUnavailable, Message: "busy"}
	s := &scriptedStream{
		pages: map[string][]api.Attempt{
			// Newest first, as the API lists.
			"ep_1": {at("h3", "ep_1", "order.paid", time.Minute), at("hx", "ep_1", "user.created", 2*time.Minute), at("h1", "ep_1", "order.created", 5*time.Minute)},
			"ep_2": {at("h2", "ep_2", "order.created", 3*time.Minute)},
		},
		conns: []func(func(), func(api.StreamMessage) error) error{
			func(connected func(), fn func(api.StreamMessage) error) error {
				connected()
				if err := fn(api.StreamMessage{ID: "e1", Attempt: at("l1", "ep_2", "order.created", 0)}); err != nil {
					return err
				}
				return io.EOF
			},
			func(func(), func(api.StreamMessage) error) error { return unavailable },
			func(func(), func(api.StreamMessage) error) error { return unavailable },
			func(connected func(), fn func(api.StreamMessage) error) error {
				connected()
				if err := fn(api.StreamMessage{ID: "e2", Attempt: at("l2", "ep_1", "order.created", 0)}); err != nil {
					return err
				}
				return fn(api.StreamMessage{ID: "e3", Attempt: at("l3", "ep_1", "order.created", 0)})
			},
		},
	}
	var (
		mu     sync.Mutex
		got    []string
		pauses []int
		states []string
	)
	f := &follower{
		api: s, endpoints: []string{"ep_1", "ep_2"}, eventType: "order.*", since: now.Add(-time.Hour),
		emit: func(a api.Attempt) bool {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, a.ID)
			return len(got) < 6
		},
		backoff: func(n int) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			pauses = append(pauses, n)
			return time.Millisecond
		},
		state: func(st tui.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, fmt.Sprintf("%d/%d", st.Phase, st.Attempt))
		},
	}
	if err := f.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The history of both endpoints, oldest first, the pattern applied
	// here; then live.
	if strings.Join(got, " ") != "h1 h2 h3 l1 l2 l3" {
		t.Errorf("emitted %v", got)
	}
	// A stream that delivered starts the count over; failures in a row
	// back off further.
	if fmt.Sprint(pauses) != "[1 2 3]" {
		t.Errorf("backoff attempts %v", pauses)
	}
	want := fmt.Sprintf("[%d/0 %d/0 %d/1 %d/2 %d/3 %d/0]", tui.PhaseConnecting, tui.PhaseLive, tui.PhaseReconnecting,
		tui.PhaseReconnecting, tui.PhaseReconnecting, tui.PhaseLive)
	if fmt.Sprint(states) != want {
		t.Errorf("states %v, want %s", states, want)
	}
	for _, q := range s.lists {
		if q.EventType != "" || q.Since.IsZero() || q.Limit != tailPageSize {
			t.Errorf("list query %+v", q)
		}
	}
}
