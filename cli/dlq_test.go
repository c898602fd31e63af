package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/domain"
)

func TestDLQListAndGet(t *testing.T) {
	fake := newFakeAPI(t)
	dead := api.DeadLetter{
		DeliveryID: "msg_1", EventID: "evt_1", EventType: "order.created", EndpointID: "ep_1", Reason: "exhausted",
		LastError: "HTTP 503", LastStatusCode: 503, Attempts: 8, DeadAt: time.Now().Add(-2 * time.Hour),
	}
	malformed := api.DeadLetter{DeliveryID: "msg_2", Reason: "malformed", DeadAt: time.Now().Add(-time.Hour)}
	fake.handle("GET /v1/dlq", http.StatusOK, api.Page[api.DeadLetter]{Items: []api.DeadLetter{dead, malformed}})
	withPayload := dead
	withPayload.Payload = json.RawMessage(`{"order_id":42}`)
	fake.handle("GET /v1/dlq/{ep}/{id}", http.StatusOK, withPayload)

	r := hookctl(t, fake, []string{"dlq", "list", "--endpoint", "ep_1", "--reason", "exhausted", "--since", "7d"}, tty)
	r.wantCode(t, cmdutil.ExitOK)
	q := fake.requests()[0].Query
	if !strings.Contains(q, "endpoint=ep_1") || !strings.Contains(q, "reason=exhausted") || !strings.Contains(q, "since=") {
		t.Errorf("query %q", q)
	}
	if !regexp.MustCompile(`(?m)^2h ago\s+ep_1\s+msg_1\s+order.created\s+exhausted\s+8\s+503\s+HTTP 503\s+-$`).MatchString(r.stdout) {
		t.Errorf("table:\n%s", r.stdout)
	}
	// A malformed message has no endpoint: "-" in the table is also what
	// `dlq get` takes.
	if !regexp.MustCompile(`(?m)^1h ago\s+-\s+msg_2\s+-\s+malformed`).MatchString(r.stdout) {
		t.Errorf("table:\n%s", r.stdout)
	}

	r = hookctl(t, fake, []string{"dlq", "get", "ep_1", "msg_1"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Reason:", "exhausted", "Payload:\n{\n  \"order_id\": 42\n}\n")
	if p := fake.requests()[1].Path; p != "/v1/dlq/ep_1/msg_1" {
		t.Errorf("path %s", p)
	}
}

// replayServer fakes a bulk replay: dry runs count 12 (2 skipped), a start
// makes job rpl_1, and each read of it moves it on:
// pending → running 0/10 → running 5/10 → done 10/10.
type replayServer struct {
	*fakeAPI
	mu    sync.Mutex
	reads int
	// onRead, when set, runs at each read of the job with its number.
	onRead func(n int)
	// startFailures answers that many start requests with 503.
	startFailures int
}

func newReplayServer(t *testing.T) *replayServer {
	s := &replayServer{fakeAPI: newFakeAPI(t)}
	s.handleFunc("POST /v1/dlq/replay", func(w http.ResponseWriter, r *http.Request) {
		var req api.ReplayRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.DryRun {
			writeJSONResponse(w, http.StatusOK, api.DryRunResult{DryRun: true, Matched: 12, Skipped: 2})
			return
		}
		s.mu.Lock()
		fail := s.startFailures > 0
		s.startFailures--
		s.mu.Unlock()
		if fail {
			writeJSONResponse(w, http.StatusServiceUnavailable, api.ErrorBody{Error: api.Error{Code: api.CodeUnavailable, Message: "postgres is down"}})
			return
		}
		writeJSONResponse(w, http.StatusAccepted, s.job(0))
	})
	s.handleFunc("GET /v1/replays/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reads++
		n := s.reads
		s.mu.Unlock()
		if s.onRead != nil {
			s.onRead(n)
		}
		writeJSONResponse(w, http.StatusOK, s.job(n))
	})
	return s
}

func (s *replayServer) job(reads int) api.ReplayJob {
	created := time.Now().Add(-time.Second)
	j := api.ReplayJob{ID: "rpl_1", State: domain.ReplayPending, CreatedAt: created}
	switch {
	case reads == 1:
		j.State, j.Total = domain.ReplayRunning, 10
	case reads == 2:
		j.State, j.Total, j.Replayed, j.Skipped = domain.ReplayRunning, 10, 4, 1
	case reads >= 3:
		done := time.Now()
		j.State, j.Total, j.Replayed, j.Skipped, j.FinishedAt = domain.ReplayDone, 10, 8, 2, &done
	}
	return j
}

func TestDLQReplayProgressToDone(t *testing.T) {
	s := newReplayServer(t)
	r := hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--endpoint", "ep_1", "--reason", "exhausted", "--force", "--yes"}, fastReplay)
	r.wantCode(t, cmdutil.ExitOK)

	reqs := s.requests()
	start := reqs[0]
	wantJSONBody(t, start, `{"filter":{"endpoint_id":"ep_1","reason":"exhausted"},"force":true}`)
	if k := start.Header.Get("Idempotency-Key"); !strings.HasPrefix(k, "hookctl_") {
		t.Errorf("Idempotency-Key %q, want a random hookctl_ key", k)
	}
	for _, rq := range reqs[1:] {
		if rq.Method != http.MethodGet || rq.Path != "/v1/replays/rpl_1" {
			t.Errorf("then %s %s", rq.Method, rq.Path)
		}
	}
	// Piped stderr: one plain line per change, pending to done.
	wantContains(t, "stderr", r.stderr, "Started replay rpl_1.\n",
		"replay rpl_1: pending 0/0 (0%)",
		"replay rpl_1: running 0/10 (0%), replayed 0, skipped 0, failed 0, 0.0/s, ETA -",
		"replay rpl_1: running 5/10 (50%), replayed 4, skipped 1, failed 0",
		"replay rpl_1: done 10/10 (100%), replayed 8, skipped 2, failed 0")
	if !regexp.MustCompile(`running 5/10 \(50%\), replayed 4, skipped 1, failed 0, [0-9.]+/s, ETA \S+`).MatchString(r.stderr) {
		t.Errorf("no rate and ETA:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "\x1b[") || strings.Contains(r.stderr, "\r") {
		t.Errorf("terminal codes on piped stderr:\n%q", r.stderr)
	}
	wantContains(t, "stdout", r.stdout, "Replay rpl_1 done: 8 replayed, 2 skipped, 0 failed of 10")
}

func TestDLQReplayProgressBarOnTerminal(t *testing.T) {
	s := newReplayServer(t)
	r := hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--yes", "-o", "json"}, fastReplay, tty)
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stderr", r.stderr, "\r\x1b[K", "waiting for the replay to start…",
		"[########--------]  50% 5/10  0.0/s  ETA -  replayed 4 · skipped 1 · failed 0\r", "[################] 100% 10/10  0.0/s  ETA 0s  replayed 8 · skipped 2 · failed 0\n")
	var job api.ReplayJob
	if err := json.Unmarshal([]byte(r.stdout), &job); err != nil || job.State != domain.ReplayDone || job.Replayed != 8 {
		t.Errorf("stdout is not the final job as JSON: %v\n%s", err, r.stdout)
	}
}

func TestDLQReplayInterruptedLeavesJobRunning(t *testing.T) {
	s := newReplayServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.onRead = func(n int) {
		if n == 2 {
			cancel() // Ctrl-C while the job runs
		}
	}
	r := hookctlCtx(t, ctx, s.fakeAPI, []string{"dlq", "replay", "--yes"}, fastReplay)
	r.wantCode(t, cmdutil.ExitFailure)
	wantContains(t, "stderr", r.stderr, "Stopped following replay rpl_1; it keeps running on the server.",
		"hookctl dlq replays get rpl_1 --watch", "hookctl dlq replays cancel rpl_1")
	for _, rq := range s.requests() {
		if strings.HasSuffix(rq.Path, "/cancel") {
			t.Error("Ctrl-C canceled the job")
		}
	}
	if strings.Contains(r.stderr, "error:") {
		t.Errorf("an interruption is not an error report:\n%s", r.stderr)
	}
}

func TestDLQReplayResendsStartWithTheSameKey(t *testing.T) {
	s := newReplayServer(t)
	s.startFailures = 2
	r := hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--yes", "--detach"}, fastReplay)
	r.wantCode(t, cmdutil.ExitOK)
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 starts", len(reqs))
	}
	key := reqs[0].Header.Get("Idempotency-Key")
	for _, rq := range reqs {
		if rq.Header.Get("Idempotency-Key") != key || key == "" {
			t.Errorf("Idempotency-Key %q, first %q", rq.Header.Get("Idempotency-Key"), key)
		}
	}
	wantContains(t, "stderr", r.stderr, "trying again with the same idempotency key", "hookctl dlq replays get rpl_1 --watch")
	if strings.TrimSpace(r.stdout) != "rpl_1" {
		t.Errorf("--detach stdout %q", r.stdout)
	}

	// A given key is sent as is.
	s = newReplayServer(t)
	hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--yes", "--detach", "--idempotency-key", "incident-42"}, fastReplay).wantCode(t, cmdutil.ExitOK)
	if k := s.only().Header.Get("Idempotency-Key"); k != "incident-42" {
		t.Errorf("Idempotency-Key %q", k)
	}
}

func TestDLQReplayDryRunAndConfirmation(t *testing.T) {
	s := newReplayServer(t)
	r := hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--event-type", "order.created", "--dry-run"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Would replay 12 dead letters, skipping 2 replayed within the last hour (--force replays them too).")
	wantJSONBody(t, s.only(), `{"filter":{"event_type":"order.created"},"dry_run":true}`)

	r = hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--dry-run", "-o", "json"})
	wantContains(t, "stdout", r.stdout, `"matched": 12`, `"skipped": 2`)

	// Piped stdin, no --yes: a usage error, nothing sent.
	s = newReplayServer(t)
	r = hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--endpoint", "ep_1"})
	r.wantCode(t, cmdutil.ExitUsage)
	wantContains(t, "stderr", r.stderr, "pass --yes")
	if len(s.requests()) != 0 {
		t.Error("sent requests without confirmation")
	}

	// On a terminal the prompt shows the count; "n" starts nothing.
	r = hookctl(t, s.fakeAPI, []string{"dlq", "replay", "--endpoint", "ep_1"}, tty, stdin("n\n"), fastReplay)
	r.wantCode(t, cmdutil.ExitFailure)
	wantContains(t, "stderr", r.stderr, "Replay 12 dead letters, skipping 2 replayed within the last hour (--force replays them too)? [y/N]")
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d requests, want the dry run only", n)
	}

	// "y" starts and follows.
	r = hookctl(t, s.fakeAPI, []string{"dlq", "replay"}, tty, stdin("y\n"), fastReplay)
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stderr", r.stderr, "(the whole queue: no filter given)?")
}

func TestDLQReplayOne(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("POST /v1/dlq/{ep}/{id}/replay", http.StatusAccepted, api.ReplayOneResponse{DeliveryID: "msg_1", EndpointID: "ep_1", Generation: 2})
	r := hookctl(t, fake, []string{"dlq", "replay", "ep_1", "msg_1"})
	r.wantCode(t, cmdutil.ExitOK)
	if req := fake.only(); req.Path != "/v1/dlq/ep_1/msg_1/replay" {
		t.Errorf("path %s", req.Path)
	}
	wantContains(t, "stdout", r.stdout, "Replaying delivery msg_1 to endpoint ep_1 (generation 2).")

	for _, args := range [][]string{
		{"dlq", "replay", "ep_1"},
		{"dlq", "replay", "ep_1", "msg_1", "--dry-run"},
		{"dlq", "replay", "ep_1", "msg_1", "--reason", "exhausted"},
		{"dlq", "replay", "--yes", "--dry-run", "--detach"},
		{"dlq", "get", "ep_1"},
	} {
		if r := hookctl(t, fake, args); r.code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestDLQReplayJobFailures(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("POST /v1/dlq/replay", http.StatusAccepted, api.ReplayJob{ID: "rpl_9", State: domain.ReplayRunning, Total: 3})
	fake.handle("GET /v1/replays/{id}", http.StatusOK, api.ReplayJob{ID: "rpl_9", State: domain.ReplayDone, Total: 3, Replayed: 2, Failed: 1})
	r := hookctl(t, fake, []string{"dlq", "replay", "--yes"}, fastReplay)
	r.wantCode(t, cmdutil.ExitFailure)
	wantContains(t, "stderr", r.stderr, "1 dead letter could not be replayed")
}

func TestReplaysCommands(t *testing.T) {
	s := newReplayServer(t)
	s.handle("GET /v1/replays", http.StatusOK, api.Page[api.ReplayJob]{Items: []api.ReplayJob{
		{ID: "rpl_1", State: domain.ReplayRunning, Total: 10, Replayed: 3, Filter: domain.DeadLetterFilter{EndpointID: "ep_1"}, CreatedAt: time.Now()},
	}})
	s.handle("POST /v1/replays/{id}/cancel", http.StatusOK, api.ReplayJob{ID: "rpl_1", State: domain.ReplayCanceled, Total: 10, Replayed: 3})

	r := hookctl(t, s.fakeAPI, []string{"dlq", "replays", "list"})
	r.wantCode(t, cmdutil.ExitOK)
	if !regexp.MustCompile(`(?m)^rpl_1\s+running\s+10\s+3\s+0\s+0\s+endpoint=ep_1\s+\S+$`).MatchString(r.stdout) {
		t.Errorf("list:\n%s", r.stdout)
	}

	r = hookctl(t, s.fakeAPI, []string{"dlq", "replays", "cancel", "rpl_1"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Replay rpl_1 is canceled: 3 replayed")

	// get without --watch reads once; with it, follows to the end.
	r = hookctl(t, s.fakeAPI, []string{"dlq", "replays", "get", "rpl_1"}, fastReplay)
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "State:", "running")
	r = hookctl(t, s.fakeAPI, []string{"dlq", "replays", "get", "rpl_1", "--watch"}, fastReplay)
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Replay rpl_1 done")
}

func TestDLQDiscard(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handleFunc("POST /v1/dlq/discard", func(w http.ResponseWriter, r *http.Request) {
		var req api.DiscardRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.DryRun {
			writeJSONResponse(w, http.StatusOK, api.DiscardResult{DryRun: true, Matched: 4})
			return
		}
		writeJSONResponse(w, http.StatusOK, api.DiscardResult{Matched: 4, Discarded: 4})
	})
	fake.handle("DELETE /v1/dlq/{ep}/{id}", http.StatusNoContent, nil)

	r := hookctl(t, fake, []string{"dlq", "discard", "--reason", "malformed", "--dry-run"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Would discard 4 dead letters.")

	r = hookctl(t, fake, []string{"dlq", "discard", "--reason", "malformed"})
	r.wantCode(t, cmdutil.ExitUsage)

	r = hookctl(t, fake, []string{"dlq", "discard", "--reason", "malformed"}, tty, stdin("yes\n"))
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stderr", r.stderr, "Discard 4 dead letters for good? [y/N]")
	wantContains(t, "stdout", r.stdout, "Discarded 4 dead letters.")

	r = hookctl(t, fake, []string{"dlq", "discard", "-", "msg_7", "--yes"})
	r.wantCode(t, cmdutil.ExitOK)
	reqs := fake.requests()
	if last := reqs[len(reqs)-1]; last.Method != http.MethodDelete || last.Path != "/v1/dlq/-/msg_7" {
		t.Errorf("last request %s %s", last.Method, last.Path)
	}
	wantJSONBody(t, reqs[0], `{"filter":{"reason":"malformed"},"dry_run":true}`)
	wantJSONBody(t, reqs[2], `{"filter":{"reason":"malformed"}}`)
}
