package cli_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/api"
	"github.com/hookd/hookd/daemon/stream"
	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage/sqlite"
	"github.com/hookd/hookd/storage/storagetest"
)

// tmuxWait bounds every wait of the tmux test.
const tmuxWait = 20 * time.Second

// nopPublisher stands in for Kafka: the test publishes attempts straight
// into the stream hub, and creates no events.
type nopPublisher struct{}

func (nopPublisher) Produce(context.Context, []*sarama.ProducerMessage) error { return nil }

// replayRecorder stands in for the replay runner and records what it was
// asked to replay.
type replayRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *replayRecorder) Submit(_ context.Context, job domain.ReplayJob) (domain.ReplayJob, bool, error) {
	return job, false, nil
}

func (r *replayRecorder) DryRun(context.Context, domain.DeadLetterFilter, bool) (int64, int64, error) {
	return 0, 0, nil
}

func (r *replayRecorder) ReplayOne(_ context.Context, dl domain.DeadLetter) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, dl.EndpointID+"/"+dl.DeliveryID)
	return dl.Generation + 1, nil
}

func (r *replayRecorder) replays() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

type hubStream struct{ hub *stream.Hub }

func (a hubStream) Serve(w http.ResponseWriter, r *http.Request, f api.StreamFilter) {
	a.hub.Serve(w, r, stream.Filter{EndpointIDs: f.EndpointIDs, EventType: f.EventType, Outcome: f.Outcome, TenantID: f.TenantID})
}

// tmuxSession is a tmux server of the test's own (a private socket), so
// that nothing else the machine runs in tmux is touched, and killing it
// kills only what the test started.
type tmuxSession struct {
	t      *testing.T
	socket string
	name   string
}

func (s *tmuxSession) tmux(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tmuxWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", append([]string{"-S", s.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

func (s *tmuxSession) capture() string {
	out, _ := s.tmux("capture-pane", "-p", "-t", s.name)
	return out
}

func (s *tmuxSession) send(keys ...string) {
	s.t.Helper()
	if out, err := s.tmux(append([]string{"send-keys", "-t", s.name}, keys...)...); err != nil {
		s.t.Fatalf("send-keys %v: %v %s", keys, err, out)
	}
}

// waitScreen polls the pane until it shows every one of wants.
func (s *tmuxSession) waitScreen(stderrFile string, wants ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(tmuxWait)
	var screen string
	for time.Now().Before(deadline) {
		screen = s.capture()
		ok := true
		for _, w := range wants {
			if !strings.Contains(screen, w) {
				ok = false
				break
			}
		}
		if ok {
			return screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	errOut, _ := os.ReadFile(stderrFile)
	s.t.Fatalf("the screen never showed %q; last screen:\n%s\nhookctl stderr:\n%s", wants, screen, errOut)
	return ""
}

// TestTailInTmux runs the real hookctl binary in a terminal (tmux)
// against a real hookd API (SQLite stores, the stream hub), publishes
// attempts and checks that rows appear, the detail pane opens, a replay
// reaches the server, and q quits.
func TestTailInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is required in CI")
		}
		t.Skip("tmux is not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()

	// The API, as hookd serves it, on SQLite.
	db, err := sqlite.Open(ctx, filepath.Join(dir, "hookd.db"), storagetest.NewBox(t), sqlite.Options{PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	key, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAPIKey(ctx, domain.APIKey{ID: ids.New(ids.APIKey), Name: "tmux", Hash: hash, Scopes: []string{domain.ScopeAdmin}, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	hub := stream.NewHub(stream.Options{Heartbeat: time.Second, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(hub.Close)
	replays := &replayRecorder{}
	srv, err := api.New(api.Deps{Config: db, Log: db, Publisher: nopPublisher{}, Replays: replays, Stream: hubStream{hub}},
		api.Options{EventsTopic: "events", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	client := wire.NewClient(ts.URL, key)
	url := "https://example.com/hooks"
	created, err := client.CreateEndpoint(ctx, wire.EndpointInput{URL: &url})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := created.Endpoint.ID

	// The binary, built as it ships.
	bin := filepath.Join(dir, "hookctl")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/hookd/hookd/cmd/hookctl").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// A socket of its own, in the test's directory (removed with it).
	s := &tmuxSession{t: t, socket: filepath.Join(dir, "tmux.sock"), name: "tail"}
	t.Cleanup(func() { _, _ = s.tmux("kill-server") })
	stderrFile := filepath.Join(dir, "stderr")
	command := fmt.Sprintf("env -u NO_COLOR HOOKCTL_CONFIG=%s HOOKCTL_SERVER=%s HOOKCTL_API_KEY=%s TERM=xterm-256color %s tail 2>%s",
		filepath.Join(dir, "config.yaml"), ts.URL, key, bin, stderrFile)
	if out, err := s.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", s.name, command); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	s.waitScreen(stderrFile, "● live", "Waiting for attempts")
	deadline := time.Now().Add(tmuxWait)
	for hub.Clients() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("hookctl never connected to the stream")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Three attempts of one delivery: two failures, then the dead letter.
	now := time.Now().UTC()
	delivery := "dlv_tmux_1"
	var attempts []domain.Attempt
	for i := 1; i <= 3; i++ {
		next := now.Add(time.Minute)
		a := domain.Attempt{
			ID: fmt.Sprintf("att_tmux_%d", i), DeliveryID: delivery, EventID: "evt_tmux_1", EventType: "order.created",
			EndpointID: endpoint, Generation: 1, AttemptNumber: i, StartedAt: now.Add(time.Duration(i-4) * time.Second),
			Duration: 120 * time.Millisecond, StatusCode: 500, Outcome: domain.OutcomeFailed, Error: "HTTP 500 Internal Server Error",
			RequestHeaders:  map[string]string{"Content-Type": "application/json", "Webhook-Id": delivery, "Webhook-Signature": "[redacted]"},
			ResponseHeaders: map[string]string{"X-Upstream": "checkout-7"},
			ResponseBody:    []byte(`{"error":"database is down"}`), ResponseBodySize: 28, NextRetryAt: &next,
		}
		if i == 3 {
			a.NextRetryAt = nil
		}
		attempts = append(attempts, a)
	}
	if err := db.WriteAttempts(ctx, attempts); err != nil {
		t.Fatal(err)
	}
	if err := db.PutDeadLetters(ctx, []domain.DeadLetter{{
		DeliveryID: delivery, EventID: "evt_tmux_1", EventType: "order.created", EndpointID: endpoint, Reason: domain.ReasonExhausted,
		LastError: "HTTP 500 Internal Server Error", LastStatusCode: 500, Attempts: 3, Generation: 1, DeadAt: now, Payload: []byte(`{"id":1}`),
	}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range attempts {
		hub.Publish(a)
	}

	screen := s.waitScreen(stderrFile, "3 rows", "order.created", "500", "failed")
	if n := strings.Count(screen, endpoint[:10]); n < 3 {
		t.Fatalf("%d rows of the endpoint on screen:\n%s", n, screen)
	}

	// The newest row is selected: enter opens its details.
	s.send("Enter")
	s.waitScreen(stderrFile, "Attempt att_tmux_3", "Request headers (secrets redacted by the server)", "Webhook-Signature: [redacted]",
		"X-Upstream: checkout-7", "database is down", "HTTP 500 Internal Server Error", "g1 #1", "g1 #2", "› g1 #3")

	s.send("r")
	s.waitScreen(stderrFile, "Replay delivery "+delivery+" to "+endpoint+" from the dead-letter queue? [y/N]")
	if got := replays.replays(); len(got) != 0 {
		t.Fatalf("replayed before the answer: %v", got)
	}
	s.send("y")
	s.waitScreen(stderrFile, "Replayed delivery "+delivery+" to "+endpoint+" (generation 2).")
	if got := replays.replays(); len(got) != 1 || got[0] != endpoint+"/"+delivery {
		t.Fatalf("replays %v", got)
	}

	// Wait for the table before the next key: a terminal sends escape
	// then e, close together, as alt+e.
	s.send("Escape")
	s.waitScreen(stderrFile, "TIME", "EVENT TYPE")
	s.send("e")
	s.waitScreen(stderrFile, "Endpoint "+endpoint, "circuit unknown")
	s.send("q")
	deadline = time.Now().Add(tmuxWait)
	for {
		if _, err := s.tmux("has-session", "-t", s.name); err != nil {
			break // hookctl exited, and its pane and session with it
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit; screen:\n%s", s.capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if errOut, _ := os.ReadFile(stderrFile); len(errOut) > 0 {
		t.Errorf("hookctl wrote to stderr: %s", errOut)
	}
}
